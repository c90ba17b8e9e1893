//! Shared helpers for the tests that run against the moto AWS emulator: the endpoint, a
//! reset, the resources the function needs, S3 events as S3 sends them, test images made
//! with the crate's own encoders, and what moto shows of the SNS messages sent.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "test helpers: a failure is a failed test and should be loud"
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_s3::config::{Credentials, Region};
use image_processor::aws::dynamodb::LATEST_SK;
use image_processor::aws::event::encode_key;
use image_processor::config::{Config, RawConfig};

pub const BUCKET: &str = "images";
pub const TABLE: &str = "records";
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// The lowered input limit the tests run with, so "too large" inputs stay small.
pub const TEST_MAX_INPUT_BYTES: usize = 262_144;

/// Serializes the tests of one binary: they share one moto server and reset it.
pub static MOTO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The emulator endpoint, or `None` (with a loud message) when the tests should skip.
pub fn endpoint(test: &str) -> Option<String> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!(
                "SKIPPED {test}: AWS_ENDPOINT_URL is not set. Run scripts/test_aws.sh, which \
                 starts moto and sets it."
            );
            None
        }
    }
}

/// A plain HTTP/1.0 request to moto's own API (no client library needed for two calls).
fn moto_http(endpoint: &str, method: &str, path: &str) -> String {
    let host = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut s = TcpStream::connect(&host).expect("connect to moto");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.contains(" 200 "), "moto {path}: {head}");
    body.to_owned()
}

pub fn reset(endpoint: &str) {
    moto_http(endpoint, "POST", "/moto-api/reset");
}

/// `(message, attributes)` of every SNS message moto says was published to `topic_arn`.
pub fn sent(endpoint: &str, topic_arn: &str) -> Vec<(serde_json::Value, HashMap<String, String>)> {
    sent_raw(endpoint, topic_arn)
        .into_iter()
        .map(|(body, attrs)| (serde_json::from_str(&body).unwrap(), attrs))
        .collect()
}

/// `(message body as sent, attributes)` of every SNS message published to `topic_arn`.
pub fn sent_raw(endpoint: &str, topic_arn: &str) -> Vec<(String, HashMap<String, String>)> {
    let data: serde_json::Value =
        serde_json::from_str(&moto_http(endpoint, "GET", "/moto-api/data.json")).unwrap();
    let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
    // A topic deleted and created again shows up twice (moto keeps the old object).
    topics
        .iter()
        .filter(|t| t["arn"] == topic_arn)
        .flat_map(|t| {
            t["sent_notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|n| {
            let msg = n[1].as_str().unwrap().to_owned();
            let attrs = n[3]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v["Value"].as_str().unwrap_or("").to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            (msg, attrs)
        })
        .collect()
}

pub async fn sdk(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// Everything the function needs, created in a freshly reset moto.
pub struct World {
    pub endpoint: String,
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub kms: aws_sdk_kms::Client,
    pub key_arn: String,
    pub key_id: String,
    pub notes_arn: String,
    pub alerts_arn: String,
}

impl World {
    /// Resets moto and creates bucket, key, topics and (when `with_table`) the table.
    pub async fn new(endpoint: &str, with_table: bool, versioned: bool) -> World {
        reset(endpoint);
        let sdk = sdk(endpoint).await;
        let s3 = aws_sdk_s3::Client::new(&sdk);
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let sns = aws_sdk_sns::Client::new(&sdk);
        let kms = aws_sdk_kms::Client::new(&sdk);
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        if versioned {
            s3.put_bucket_versioning()
                .bucket(BUCKET)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        let key = kms.create_key().send().await.unwrap();
        let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
        let key_id = key.key_metadata().unwrap().key_id().to_owned();
        let notes_arn = sns
            .create_topic()
            .name("notifications")
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_owned();
        let alerts_arn = sns
            .create_topic()
            .name("security-alerts")
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_owned();
        let w = World {
            endpoint: endpoint.to_owned(),
            sdk,
            s3,
            ddb,
            sns,
            kms,
            key_arn,
            key_id,
            notes_arn,
            alerts_arn,
        };
        if with_table {
            w.create_table().await;
        }
        w
    }

    /// The table as Terraform makes it: `pk`/`sk` strings, TTL on `expires_at`.
    pub async fn create_table(&self) {
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        let key = |n: &str, t| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .unwrap()
        };
        self.ddb
            .create_table()
            .table_name(TABLE)
            .attribute_definitions(attr("pk"))
            .attribute_definitions(attr("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        self.ddb
            .update_time_to_live()
            .table_name(TABLE)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    /// The function's environment for this world.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("IMAGES_BUCKET", BUCKET.to_owned()),
            ("RECORDS_TABLE", TABLE.to_owned()),
            ("NOTIFICATIONS_TOPIC_ARN", self.notes_arn.clone()),
            ("SECURITY_ALERTS_TOPIC_ARN", self.alerts_arn.clone()),
            ("KMS_KEY_ID", self.key_arn.clone()),
            ("EXPECTED_BUCKET_OWNER", ACCOUNT.to_owned()),
            ("MAX_INPUT_BYTES", TEST_MAX_INPUT_BYTES.to_string()),
            ("SANDBOX_MODE", "off".to_owned()),
            ("LOG_LEVEL", "debug".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub fn config(&self) -> Config {
        let env: HashMap<String, String> = self.env().into_iter().collect();
        RawConfig::from_lookup(|k| env.get(k).cloned())
            .validate()
            .unwrap()
    }

    /// Puts an object; returns `(etag without quotes, version id)`.
    pub async fn put(&self, key: &str, bytes: &[u8]) -> (String, Option<String>) {
        let out = self
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(bytes.to_vec().into())
            .send()
            .await
            .unwrap();
        (
            out.e_tag().unwrap().trim_matches('"').to_owned(),
            out.version_id().map(str::to_owned),
        )
    }

    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.s3.get_object().bucket(BUCKET).key(key).send().await {
            Ok(o) => Some(o.body.collect().await.unwrap().into_bytes().to_vec()),
            Err(_) => None,
        }
    }

    /// Every record in the table (the per-key "latest" guards left out), as
    /// `attribute → value as a string`.
    pub async fn items(&self) -> Vec<HashMap<String, String>> {
        self.all_items()
            .await
            .into_iter()
            .filter(|i| i["sk"] != LATEST_SK)
            .collect()
    }

    /// The per-key "latest" guard items.
    pub async fn guards(&self) -> Vec<HashMap<String, String>> {
        self.all_items()
            .await
            .into_iter()
            .filter(|i| i["sk"] == LATEST_SK)
            .collect()
    }

    /// Every item in the table, as `attribute → value as a string`.
    pub async fn all_items(&self) -> Vec<HashMap<String, String>> {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        let out = self.ddb.scan().table_name(TABLE).send().await.unwrap();
        out.items()
            .iter()
            .map(|i| {
                i.iter()
                    .map(|(k, v)| {
                        let s = match v {
                            A::S(s) | A::N(s) => s.clone(),
                            A::Bool(b) => b.to_string(),
                            A::L(l) => l
                                .iter()
                                .filter_map(|x| x.as_s().ok().cloned())
                                .collect::<Vec<_>>()
                                .join(","),
                            other => format!("{other:?}"),
                        };
                        (k.clone(), s)
                    })
                    .collect()
            })
            .collect()
    }

    pub fn notes(&self) -> Vec<(serde_json::Value, HashMap<String, String>)> {
        sent(&self.endpoint, &self.notes_arn)
    }

    pub fn alerts(&self) -> Vec<(serde_json::Value, HashMap<String, String>)> {
        sent(&self.endpoint, &self.alerts_arn)
    }
}

/// One object in an S3 event.
#[derive(Debug, Clone, Default)]
pub struct Ev {
    pub event_name: String,
    pub bucket: String,
    /// The decoded key: the event carries it URL-encoded, as S3 does.
    pub key: String,
    /// Overrides the encoded key (for keys that must not decode).
    pub raw_key: Option<String>,
    pub size: u64,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub sequencer: String,
}

impl Ev {
    pub fn put(key: &str, size: usize, sequencer: u64) -> Ev {
        Ev {
            event_name: "ObjectCreated:Put".into(),
            bucket: BUCKET.into(),
            key: key.into(),
            raw_key: None,
            size: size as u64,
            etag: None,
            version_id: None,
            sequencer: format!("{sequencer:018X}"),
        }
    }

    pub fn record_json(&self) -> serde_json::Value {
        let mut object = serde_json::json!({
            "key": self.raw_key.clone().unwrap_or_else(|| encode_key(&self.key)),
            "size": self.size,
            "sequencer": self.sequencer,
        });
        if let Some(e) = &self.etag {
            object["eTag"] = e.clone().into();
        }
        if let Some(v) = &self.version_id {
            object["versionId"] = v.clone().into();
        }
        serde_json::json!({
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": REGION,
            "eventTime": "2025-01-01T12:00:00.000Z",
            "eventName": self.event_name,
            "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "192.0.2.1"},
            "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "uploads",
                "bucket": {
                    "name": self.bucket,
                    "ownerIdentity": {"principalId": "EXAMPLE"},
                    "arn": format!("arn:aws:s3:::{}", self.bucket),
                },
                "object": object,
            },
        })
    }
}

/// An S3 event JSON with these records, as S3 sends it.
pub fn event_json(evs: &[Ev]) -> serde_json::Value {
    serde_json::json!({ "Records": evs.iter().map(Ev::record_json).collect::<Vec<_>>() })
}

pub fn event(evs: &[Ev]) -> aws_lambda_events::event::s3::S3Event {
    serde_json::from_value(event_json(evs)).unwrap()
}

/// An RGB gradient with a hard edge, `w`×`h`.
pub fn rgb(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let edge = if x < w / 2 { 0 } else { 255 };
            px.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, edge]);
        }
    }
    px
}

pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&rgb(w, h), w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().unwrap();
    wr.write_image_data(&rgb(w, h)).unwrap();
    wr.finish().unwrap();
    out
}

pub fn webp(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(&rgb(w, h), w, h, image_webp::ColorType::Rgb8)
        .unwrap();
    out
}

/// A minimal GIF89a (1×1): a format the product does not accept.
pub fn gif() -> Vec<u8> {
    let mut g = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    g.extend_from_slice(
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
    );
    g
}

/// Byte strings whose presence in an output would mean metadata survived.
pub const METADATA_MARKERS: &[&[u8]] = &[
    b"Exif",
    b"EXIF",
    b"eXIf",
    b"tEXt",
    b"iTXt",
    b"zTXt",
    b"iCCP",
    b"ICC_PROFILE",
    b"XMP",
];

pub fn has_metadata(bytes: &[u8]) -> bool {
    METADATA_MARKERS
        .iter()
        .any(|m| bytes.windows(m.len()).any(|w| w == *m))
}
