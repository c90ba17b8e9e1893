//! The Lambda handler end to end against the moto AWS emulator, through the real AWS SDK
//! adapters (no mocks of the SDK): real S3 objects, real S3 event JSON (URL-encoded keys
//! included), and what landed in S3, DynamoDB and SNS afterwards.
//!
//! Needs `AWS_ENDPOINT_URL` pointing at moto; `scripts/test_aws.sh` starts moto and sets it.
//! Without it every test prints SKIPPED and passes. The tests share one moto server, so each
//! takes a global lock and resets moto first.
#![cfg(feature = "aws")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "tests: a failure is a failed test and should be loud"
)]

mod aws_support;

use aws_sdk_s3::types::ServerSideEncryption;
use aws_support::*;
use image_processor::aws::{cold_start, AwsHandler, Disposition, Invocation};
use image_processor::core::probe::probe;
use image_processor::core::{Format, Limits};
use image_processor::runner::Runner;

fn inv(request_id: &str) -> Invocation {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Invocation {
        request_id: request_id.to_owned(),
        deadline_ms: now + 60_000,
    }
}

async fn handler(w: &World) -> AwsHandler {
    let config = w.config();
    cold_start(&config, &w.sdk, Runner::in_process(config.limits.clone()))
        .await
        .unwrap()
}

fn dispositions(s: &image_processor::aws::Summary) -> Vec<Disposition> {
    s.results.iter().map(|r| r.disposition.clone()).collect()
}

/// Asserts everything a processed output must be: there, SSE-KMS with our key and a bucket
/// key, the right Content-Type, linked to its source, decodable to the recorded size, and
/// free of metadata.
async fn assert_output(w: &World, out_key: &str, format: Format, wh: (u32, u32), src_sha: &str) {
    let head =
        w.s3.head_object()
            .bucket(BUCKET)
            .key(out_key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{out_key}: {e:?}"));
    assert_eq!(
        head.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(head.ssekms_key_id(), Some(w.key_arn.as_str()), "{out_key}");
    assert_eq!(head.bucket_key_enabled(), Some(true), "{out_key}");
    assert_eq!(head.content_type(), Some(format.mime()));
    let meta = head.metadata().unwrap();
    assert_eq!(meta.get("source-sha256").map(String::as_str), Some(src_sha));
    assert!(meta.contains_key("source-key"));
    let bytes = w.get(out_key).await.unwrap();
    let h = probe(&bytes, &Limits::default()).unwrap();
    assert_eq!(
        (h.format, h.width, h.height),
        (format, wh.0, wh.1),
        "{out_key}"
    );
    assert!(!has_metadata(&bytes), "{out_key} carries metadata");
}

#[tokio::test]
async fn processes_jpeg_png_webp_for_each_op() {
    let Some(ep) = endpoint("processes_jpeg_png_webp_for_each_op") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;
    let h = handler(&w).await;
    let mut evs = Vec::new();
    let mut expect = Vec::new();
    let mut seq = 1;
    for (ext, format, bytes) in [
        ("jpg", Format::Jpeg, jpeg(300, 240)),
        ("png", Format::Png, png(300, 240)),
        ("webp", Format::Webp, webp(300, 240)),
    ] {
        for (suffix, wh) in [
            ("", (300, 240)),
            ("_thumb", (200, 160)),
            ("_grayscale", (300, 240)),
        ] {
            let key = format!("uploads/cat{suffix}.{ext}");
            let (etag, _) = w.put(&key, &bytes).await;
            let mut ev = Ev::put(&key, bytes.len(), seq);
            ev.etag = Some(etag);
            seq += 1;
            evs.push(ev);
            expect.push((
                key,
                format,
                wh,
                image_processor::core::record::sha256_hex(&bytes),
            ));
        }
    }
    // One event with nine records: every record is handled.
    let s = h.handle(&event(&evs), &inv("req-1")).await.unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Processed; 9]);

    let items = w.items().await;
    assert_eq!(items.len(), 9);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (key, format, wh, sha) in &expect {
        let out_key = key.replacen("uploads/", "processed/", 1);
        assert_output(&w, &out_key, *format, *wh, sha).await;
        let item = items
            .iter()
            .find(|i| i["pk"] == format!("{BUCKET}/{key}"))
            .unwrap_or_else(|| panic!("no record for {key}"));
        assert_eq!(item["status"], "processed");
        assert_eq!(item["output_key"], out_key);
        assert_eq!(item["sha256"], *sha);
        assert_eq!(item["out_width"], wh.0.to_string());
        assert_eq!(item["request_id"], "req-1");
        assert_eq!(item["format"], format.name());
        assert!(item.contains_key("out_sha256") && item.contains_key("duration_ms"));
        assert!(
            !item.contains_key("claim_owner"),
            "the claim is replaced by the record"
        );
        // TTL: moto never expires items, so check the value: 90 days from now.
        let exp: u64 = item["expires_at"].parse().unwrap();
        assert!(exp.abs_diff(now + 90 * 86_400) < 600, "expires_at {exp}");
    }
    let notes = w.notes();
    assert_eq!(notes.len(), 9);
    for (msg, attrs) in &notes {
        assert_eq!(attrs["status"], "processed");
        assert_eq!(attrs["reason"], "none");
        assert!(
            !attrs.contains_key("signature"),
            "no key configured, no signature"
        );
        assert_eq!(msg["status"], "processed");
        let text = msg.to_string();
        assert!(
            !text.contains("http") && !text.contains("X-Amz"),
            "no URLs: {text}"
        );
    }
    assert!(w.alerts().is_empty());
}

#[tokio::test]
async fn keys_with_spaces_plus_and_unicode_are_decoded() {
    let Some(ep) = endpoint("keys_with_spaces_plus_and_unicode_are_decoded") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;
    let h = handler(&w).await;
    let img = jpeg(64, 48);
    let keys = [
        "uploads/my holiday photo.jpg",
        "uploads/a+b=c&d.jpg",
        "uploads/café/☃ snow_thumb.jpg",
        "uploads/日本語/写真 (1).jpg",
    ];
    let mut evs = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        w.put(k, &img).await;
        evs.push(Ev::put(k, img.len(), i as u64 + 1));
    }
    // What S3 puts in the event: spaces as '+', a literal '+' as %2B, UTF-8 as %XX.
    let ev = event_json(&evs);
    assert_eq!(
        ev["Records"][0]["s3"]["object"]["key"],
        "uploads/my+holiday+photo.jpg"
    );
    assert_eq!(
        ev["Records"][1]["s3"]["object"]["key"],
        "uploads/a%2Bb%3Dc%26d.jpg"
    );
    let s = h.handle(&event(&evs), &inv("req-keys")).await.unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Processed; 4]);
    for k in keys {
        let out = k.replacen("uploads/", "processed/", 1);
        assert!(w.get(&out).await.is_some(), "missing {out}");
    }
    let thumb = probe(
        &w.get("processed/café/☃ snow_thumb.jpg").await.unwrap(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!((thumb.width, thumb.height), (64, 48), "never upscaled");
    assert_eq!(w.items().await.len(), 4);
    assert_eq!(w.notes().len(), 4);
}

#[tokio::test]
async fn bad_input_is_rejected_recorded_and_notified() {
    let Some(ep) = endpoint("bad_input_is_rejected_recorded_and_notified") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;
    let h = handler(&w).await;
    // A GIF renamed .jpg: the magic bytes decide, not the name.
    let g = gif();
    w.put("uploads/cat.jpg", &g).await;
    let gif_ev = Ev::put("uploads/cat.jpg", g.len(), 1);
    // A key that does not URL-decode, and one that would escape the output prefix.
    let mut undecodable = Ev::put("x", 10, 2);
    undecodable.raw_key = Some("uploads/bad%ZZkey.jpg".into());
    let escaping = Ev::put("uploads/../etc/passwd.jpg", 10, 3);
    let s = h
        .handle(&event(&[gif_ev, undecodable, escaping]), &inv("req-bad"))
        .await
        .expect("bad input never fails the invocation");
    assert_eq!(
        dispositions(&s),
        vec![
            Disposition::Rejected {
                reason: "unsupported-format"
            },
            Disposition::Rejected {
                reason: "invalid-key"
            },
            Disposition::Rejected {
                reason: "invalid-key"
            },
        ]
    );
    assert!(w.get("processed/cat.jpg").await.is_none());
    let items = w.items().await;
    assert_eq!(items.len(), 3);
    let gif_item = items
        .iter()
        .find(|i| i["pk"] == "images/uploads/cat.jpg")
        .unwrap();
    assert_eq!(gif_item["status"], "rejected");
    assert_eq!(gif_item["reason"], "unsupported-format");
    assert!(!gif_item.contains_key("output_key"));
    assert!(items
        .iter()
        .any(|i| i["pk"] == "images/uploads/bad%ZZkey.jpg"));

    let notes = w.notes();
    assert_eq!(notes.len(), 3);
    assert!(notes
        .iter()
        .all(|(m, a)| a["status"] == "rejected" && m["status"] == "rejected"));
    // Invalid keys look hostile: they also go to the security-alerts topic; a GIF does not.
    let alerts = w.alerts();
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|(_, a)| a["reason"] == "invalid-key"));
}

#[tokio::test]
async fn event_size_over_the_limit_is_rejected_without_reading() {
    let Some(ep) = endpoint("event_size_over_the_limit_is_rejected_without_reading") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;
    let h = handler(&w).await;
    // No object exists at all: a read would find it gone. Rejection proves it was not read.
    let ev = Ev::put("uploads/huge.jpg", TEST_MAX_INPUT_BYTES + 1, 1);
    let s = h.handle(&event(&[ev]), &inv("req-huge")).await.unwrap();
    assert_eq!(
        dispositions(&s),
        vec![Disposition::Rejected {
            reason: "too-large-file"
        }]
    );
    let items = w.items().await;
    assert_eq!(items[0]["bytes"], (TEST_MAX_INPUT_BYTES + 1).to_string());
    assert!(!items[0].contains_key("sha256"));
    assert_eq!(w.notes()[0].1["reason"], "too-large-file");
}

#[tokio::test]
async fn object_larger_than_its_event_says_is_cut_at_limit_plus_one() {
    let Some(ep) = endpoint("object_larger_than_its_event_says_is_cut_at_limit_plus_one") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;
    let h = handler(&w).await;
    // A valid JPEG padded far past the limit; the event claims 1 KiB.
    let mut big = jpeg(32, 32);
    big.resize(TEST_MAX_INPUT_BYTES * 3, 0);
    let (etag, _) = w.put("uploads/liar.jpg", &big).await;
    let mut ev = Ev::put("uploads/liar.jpg", 1024, 1);
    ev.etag = Some(etag);
    let s = h.handle(&event(&[ev]), &inv("req-liar")).await.unwrap();
    assert_eq!(
        dispositions(&s),
        vec![Disposition::Rejected {
            reason: "too-large-file"
        }]
    );
    let items = w.items().await;
    assert_eq!(
        items[0]["bytes"],
        (TEST_MAX_INPUT_BYTES + 1).to_string(),
        "read limit + 1 bytes, no more"
    );
    assert!(!items[0].contains_key("sha256"), "no hash of a cut input");
    assert!(items[0]["message"].contains("announced 1024"));
    assert!(w.get("processed/liar.jpg").await.is_none());
}

#[tokio::test]
async fn duplicate_delivery_writes_once() {
    let Some(ep) = endpoint("duplicate_delivery_writes_once") else {
        return;
    };
    let _g = MOTO.lock().await;
    // Versioned, so every write of the output is visible as a version.
    let w = World::new(&ep, true, true).await;
    let h = handler(&w).await;
    let img = png(80, 60);
    let (etag, version) = w.put("uploads/dup.png", &img).await;
    assert!(version.is_some());
    let mut ev = Ev::put("uploads/dup.png", img.len(), 7);
    ev.etag = Some(etag);
    ev.version_id = version.clone();
    let s1 = h
        .handle(&event(&[ev.clone()]), &inv("req-a"))
        .await
        .unwrap();
    assert_eq!(dispositions(&s1), vec![Disposition::Processed]);
    // The same event again: once in a new invocation, once twice within one event.
    let s2 = h
        .handle(&event(&[ev.clone()]), &inv("req-b"))
        .await
        .unwrap();
    assert_eq!(dispositions(&s2), vec![Disposition::Duplicate]);
    let s3 = h
        .handle(&event(&[ev.clone(), ev.clone()]), &inv("req-a"))
        .await
        .unwrap();
    assert_eq!(dispositions(&s3), vec![Disposition::Duplicate; 2]);

    let versions =
        w.s3.list_object_versions()
            .bucket(BUCKET)
            .prefix("processed/dup.png")
            .send()
            .await
            .unwrap();
    assert_eq!(versions.versions().len(), 1, "exactly one output write");
    let items = w.items().await;
    assert_eq!(items.len(), 1, "exactly one record");
    assert_eq!(items[0]["sk"], version.unwrap(), "keyed by the version id");
    assert_eq!(w.notes().len(), 1, "exactly one notification");
}

#[tokio::test]
async fn newer_sequencer_is_processed_again_and_a_stale_replay_is_not() {
    let Some(ep) = endpoint("newer_sequencer_is_processed_again_and_a_stale_replay_is_not") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;
    let h = handler(&w).await;
    let first = jpeg(120, 90);
    let (etag1, _) = w.put("uploads/same.jpg", &first).await;
    let mut ev1 = Ev::put("uploads/same.jpg", first.len(), 0x10);
    ev1.etag = Some(etag1);
    let s = h
        .handle(&event(&[ev1.clone()]), &inv("req-1"))
        .await
        .unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Processed]);

    let second = jpeg(60, 40);
    let (etag2, _) = w.put("uploads/same.jpg", &second).await;
    let mut ev2 = Ev::put("uploads/same.jpg", second.len(), 0x20);
    ev2.etag = Some(etag2);
    let s = h.handle(&event(&[ev2]), &inv("req-2")).await.unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Processed]);
    let out = probe(
        &w.get("processed/same.jpg").await.unwrap(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!((out.width, out.height), (60, 40), "the newer upload wins");

    // The first event was already handled: a duplicate. A first-time but stale event
    // (a sequencer below the latest handled) writes nothing, and its record says why.
    let s = h
        .handle(&event(&[ev1.clone()]), &inv("req-3"))
        .await
        .unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Duplicate]);
    let mut stale = ev1;
    stale.sequencer = format!("{:018X}", 0x18);
    let s = h.handle(&event(&[stale]), &inv("req-4")).await.unwrap();
    assert_eq!(
        dispositions(&s),
        vec![Disposition::Superseded {
            reason: "older-than-latest"
        }]
    );
    let out = probe(
        &w.get("processed/same.jpg").await.unwrap(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!((out.width, out.height), (60, 40));

    let items = w.items().await;
    let done: Vec<_> = items
        .iter()
        .filter(|i| i["status"] == "processed")
        .collect();
    assert_eq!(done.len(), 2, "one record per sequencer");
    assert_eq!(items.len(), 3, "and one for the stale event");
    let notes = w.notes();
    assert_eq!(notes.len(), 3);
    assert_eq!(notes[2].1["status"], "superseded");
}

/// A versioned bucket, and S3 delivering the events of two versions of one key out of
/// order: version 2 is processed first, then version 1's event arrives. The output stays
/// version 2's image (written once), and version 1 gets a `superseded` record and
/// notification saying why. The sequencers have different lengths, so a plain string
/// comparison would order them the wrong way round.
#[tokio::test]
async fn older_version_arriving_after_a_newer_one_is_superseded() {
    let Some(ep) = endpoint("older_version_arriving_after_a_newer_one_is_superseded") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, true).await;
    let h = handler(&w).await;
    let v1_img = jpeg(120, 90);
    let v2_img = jpeg(60, 40);
    let (etag1, ver1) = w.put("uploads/order.jpg", &v1_img).await;
    let (etag2, ver2) = w.put("uploads/order.jpg", &v2_img).await;
    assert_ne!(ver1, ver2);
    let mut ev1 = Ev::put("uploads/order.jpg", v1_img.len(), 0);
    ev1.etag = Some(etag1);
    ev1.version_id = ver1.clone();
    ev1.sequencer = "FF00000000000000".into();
    let mut ev2 = Ev::put("uploads/order.jpg", v2_img.len(), 0);
    ev2.etag = Some(etag2);
    ev2.version_id = ver2.clone();
    ev2.sequencer = "1000000000000000000".into();
    assert!(
        ev1.sequencer > ev2.sequencer,
        "unpadded, the older one sorts last"
    );

    let s = h.handle(&event(&[ev2]), &inv("req-v2")).await.unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Processed]);
    let s = h
        .handle(&event(&[ev1.clone()]), &inv("req-v1"))
        .await
        .unwrap();
    assert_eq!(
        dispositions(&s),
        vec![Disposition::Superseded {
            reason: "older-than-latest"
        }],
        "an older version never replaces a newer output"
    );

    let out = probe(
        &w.get("processed/order.jpg").await.unwrap(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!((out.width, out.height), (60, 40), "still version 2's image");
    let versions =
        w.s3.list_object_versions()
            .bucket(BUCKET)
            .prefix("processed/order.jpg")
            .send()
            .await
            .unwrap();
    assert_eq!(
        versions.versions().len(),
        1,
        "the older event wrote nothing"
    );

    let items = w.items().await;
    assert_eq!(items.len(), 2);
    let old = items
        .iter()
        .find(|i| Some(&i["sk"]) == ver1.as_ref())
        .expect("a record for version 1");
    assert_eq!(old["status"], "superseded");
    assert_eq!(old["reason"], "older-than-latest");
    assert!(
        old["message"].contains("1000000000000000000"),
        "{}",
        old["message"]
    );
    assert!(!old.contains_key("output_key") && !old.contains_key("claim_owner"));
    let new = items
        .iter()
        .find(|i| Some(&i["sk"]) == ver2.as_ref())
        .unwrap();
    assert_eq!(new["status"], "processed");

    let guards = w.guards().await;
    assert_eq!(guards.len(), 1);
    assert_eq!(guards[0]["pk"], "images/uploads/order.jpg");
    assert_eq!(guards[0]["seq"], format!("{:0>64}", "1000000000000000000"));
    assert!(
        !guards[0].contains_key("writer"),
        "the write lock was given back"
    );

    let notes = w.notes();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1].1["status"], "superseded");
    assert_eq!(notes[1].1["reason"], "older-than-latest");
    assert_eq!(notes[1].0["sk"], ver1.clone().unwrap());
    assert!(w.alerts().is_empty(), "out of order is not hostile");

    // Its redelivery is an ordinary duplicate: nothing more is written or sent.
    let s = h.handle(&event(&[ev1]), &inv("req-v1b")).await.unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Duplicate]);
    assert_eq!(w.notes().len(), 2);
}

/// Another live invocation holds the write lock of the key (it is writing an older
/// version's output): a newer event waits for it, then fails so that Lambda retries, and
/// the retry, once the lock is given back, writes the newer output.
#[tokio::test]
async fn a_held_write_lock_makes_a_newer_version_wait_then_retry() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let Some(ep) = endpoint("a_held_write_lock_makes_a_newer_version_wait_then_retry") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, true).await;
    let h = handler(&w).await;
    let img = png(40, 30);
    let (etag, version) = w.put("uploads/locked.png", &img).await;
    let mut ev = Ev::put("uploads/locked.png", img.len(), 0x20);
    ev.etag = Some(etag);
    ev.version_id = version;
    let far = inv("x").deadline_ms + 600_000;
    w.ddb
        .put_item()
        .table_name(TABLE)
        .item("pk", A::S("images/uploads/locked.png".into()))
        .item("sk", A::S("#latest".into()))
        .item("seq", A::S(format!("{:0>64}", "10")))
        .item("writer", A::S("req-older".into()))
        .item("writer_until", A::N(far.to_string()))
        .send()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = h
        .handle(&event(&[ev.clone()]), &inv("req-newer"))
        .await
        .expect_err("a held lock fails the invocation after a short wait");
    assert!(err.message.contains("write lock"), "{err}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(4));
    assert!(w.get("processed/locked.png").await.is_none());
    assert!(w.notes().is_empty());
    assert_eq!(w.items().await[0]["lease_until"], "0", "claim given back");

    // The older writer finishes and gives the lock back; Lambda's retry goes through.
    w.ddb
        .update_item()
        .table_name(TABLE)
        .key("pk", A::S("images/uploads/locked.png".into()))
        .key("sk", A::S("#latest".into()))
        .update_expression("REMOVE writer, writer_until")
        .send()
        .await
        .unwrap();
    let s = h.handle(&event(&[ev]), &inv("req-newer")).await.unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Processed]);
    assert!(w.get("processed/locked.png").await.is_some());
    assert_eq!(w.guards().await[0]["seq"], format!("{:0>64}", "20"));
}

/// An object deleted (or overwritten) between its event and its processing: S3 answers the
/// pinned read with 404 (or 412). That is final: a `superseded` record and a notification,
/// no output, and the invocation succeeds (no retries into the dead-letter queue).
#[tokio::test]
async fn deleted_or_replaced_before_processing_is_recorded_not_retried() {
    let Some(ep) = endpoint("deleted_or_replaced_before_processing_is_recorded_not_retried") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;
    let h = handler(&w).await;
    let img = jpeg(32, 32);

    // Deleted (NoSuchKey).
    let (etag, _) = w.put("uploads/deleted.jpg", &img).await;
    w.s3.delete_object()
        .bucket(BUCKET)
        .key("uploads/deleted.jpg")
        .send()
        .await
        .unwrap();
    let mut deleted = Ev::put("uploads/deleted.jpg", img.len(), 1);
    deleted.etag = Some(etag);

    // Overwritten since the event (the ETag no longer matches).
    let (old_etag, _) = w.put("uploads/replaced.jpg", &img).await;
    w.put("uploads/replaced.jpg", &png(8, 8)).await;
    let mut replaced = Ev::put("uploads/replaced.jpg", img.len(), 2);
    replaced.etag = Some(old_etag);

    let s = h
        .handle(&event(&[deleted.clone(), replaced]), &inv("req-gone"))
        .await
        .expect("a deleted object is a final outcome, not a dependency failure");
    assert_eq!(
        dispositions(&s),
        vec![
            Disposition::Superseded {
                reason: "object-deleted"
            },
            Disposition::Superseded {
                reason: "object-replaced"
            },
        ]
    );
    assert!(w.get("processed/deleted.jpg").await.is_none());
    assert!(w.get("processed/replaced.jpg").await.is_none());
    let items = w.items().await;
    assert_eq!(items.len(), 2);
    for (key, reason) in [
        ("uploads/deleted.jpg", "object-deleted"),
        ("uploads/replaced.jpg", "object-replaced"),
    ] {
        let item = items
            .iter()
            .find(|i| i["pk"] == format!("{BUCKET}/{key}"))
            .unwrap();
        assert_eq!(item["status"], "superseded");
        assert_eq!(item["reason"], reason);
        assert!(!item.contains_key("sha256") && !item.contains_key("output_key"));
    }
    let notes = w.notes();
    assert_eq!(notes.len(), 2);
    assert!(notes.iter().all(|(_, a)| a["status"] == "superseded"));
    assert!(w.alerts().is_empty());

    // A redelivery finds the final record: nothing is retried or sent again.
    let s = h
        .handle(&event(&[deleted]), &inv("req-gone-2"))
        .await
        .unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Duplicate]);
    assert_eq!(w.notes().len(), 2);
}

/// On a versioned bucket the event pins the version; a version deleted for good answers
/// `NoSuchVersion` (404), which is final in the same way.
#[tokio::test]
async fn a_deleted_version_is_recorded_not_retried() {
    let Some(ep) = endpoint("a_deleted_version_is_recorded_not_retried") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, true).await;
    let h = handler(&w).await;
    let img = webp(24, 24);
    let (etag, version) = w.put("uploads/v.webp", &img).await;
    w.s3.delete_object()
        .bucket(BUCKET)
        .key("uploads/v.webp")
        .set_version_id(version.clone())
        .send()
        .await
        .unwrap();
    let mut ev = Ev::put("uploads/v.webp", img.len(), 1);
    ev.etag = Some(etag);
    ev.version_id = version;
    let s = h.handle(&event(&[ev]), &inv("req-ver")).await.unwrap();
    assert_eq!(
        dispositions(&s),
        vec![Disposition::Superseded {
            reason: "object-deleted"
        }]
    );
    assert_eq!(w.items().await[0]["reason"], "object-deleted");
    assert_eq!(w.notes().len(), 1);
    assert!(w.get("processed/v.webp").await.is_none());
}

#[tokio::test]
async fn keys_outside_uploads_and_other_events_are_skipped() {
    let Some(ep) = endpoint("keys_outside_uploads_and_other_events_are_skipped") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;
    let h = handler(&w).await;
    let img = jpeg(16, 16);
    w.put("processed/loop.jpg", &img).await;
    w.put("other/x.jpg", &img).await;
    let mut removed = Ev::put("uploads/gone.jpg", 0, 3);
    removed.event_name = "ObjectRemoved:Delete".into();
    let mut foreign = Ev::put("uploads/x.jpg", img.len(), 4);
    foreign.bucket = "someone-elses-bucket".into();
    let s = h
        .handle(
            &event(&[
                Ev::put("processed/loop.jpg", img.len(), 1),
                Ev::put("other/x.jpg", img.len(), 2),
                removed,
                foreign,
            ]),
            &inv("req-skip"),
        )
        .await
        .unwrap();
    assert_eq!(
        dispositions(&s),
        vec![
            Disposition::Skipped {
                why: "outside-input-prefix"
            },
            Disposition::Skipped {
                why: "outside-input-prefix"
            },
            Disposition::Skipped {
                why: "not-object-created"
            },
            Disposition::Skipped {
                why: "other-bucket"
            },
        ]
    );
    assert!(w.items().await.is_empty());
    assert!(w.notes().is_empty());
    assert!(w.get("processed/other/x.jpg").await.is_none());
}

#[tokio::test]
async fn missing_table_fails_the_invocation_and_the_retry_converges() {
    let Some(ep) = endpoint("missing_table_fails_the_invocation_and_the_retry_converges") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, false, true).await;
    let h = handler(&w).await;
    let img = webp(50, 50);
    let (etag, version) = w.put("uploads/retry.webp", &img).await;
    let mut ev = Ev::put("uploads/retry.webp", img.len(), 1);
    ev.etag = Some(etag);
    ev.version_id = version;
    let err = h
        .handle(&event(&[ev.clone()]), &inv("req-retry"))
        .await
        .expect_err("a missing table is a dependency failure");
    assert!(err.operation.starts_with("dynamodb:"), "{err}");
    assert!(
        w.get("processed/retry.webp").await.is_none(),
        "nothing written before the claim"
    );
    assert!(w.notes().is_empty());

    // The table appears (the dependency recovers); Lambda retries with the same request id.
    w.create_table().await;
    let s = h
        .handle(&event(&[ev.clone()]), &inv("req-retry"))
        .await
        .unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Processed]);
    let s = h.handle(&event(&[ev]), &inv("req-retry")).await.unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Duplicate]);
    let versions =
        w.s3.list_object_versions()
            .bucket(BUCKET)
            .prefix("processed/retry.webp")
            .send()
            .await
            .unwrap();
    assert_eq!(versions.versions().len(), 1);
    assert_eq!(w.items().await.len(), 1);
    assert_eq!(w.notes().len(), 1);
}

#[tokio::test]
async fn failure_after_the_claim_releases_it_and_the_retry_converges() {
    let Some(ep) = endpoint("failure_after_the_claim_releases_it_and_the_retry_converges") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, true).await;
    // The notifications topic does not exist yet: output written, publish fails.
    w.sns
        .delete_topic()
        .topic_arn(&w.notes_arn)
        .send()
        .await
        .unwrap();
    let h = handler(&w).await;
    let img = jpeg(40, 30);
    let (etag, version) = w.put("uploads/late.jpg", &img).await;
    let mut ev = Ev::put("uploads/late.jpg", img.len(), 1);
    ev.etag = Some(etag);
    ev.version_id = version;
    let err = h.handle(&event(&[ev.clone()]), &inv("req-x")).await;
    assert!(err.is_err(), "a failed publish fails the invocation");
    let items = w.items().await;
    assert_eq!(
        items[0]["status"], "claimed",
        "no final record before the notification"
    );
    assert_eq!(items[0]["lease_until"], "0", "the claim was given back");

    // A retry under another request id may take the released claim at once.
    w.sns
        .create_topic()
        .name("notifications")
        .send()
        .await
        .unwrap();
    let s = h.handle(&event(&[ev]), &inv("req-y")).await.unwrap();
    assert_eq!(dispositions(&s), vec![Disposition::Processed]);
    let items = w.items().await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "processed");
    assert_eq!(w.notes().len(), 1);
}

#[tokio::test]
async fn an_unusable_kms_key_stops_the_cold_start() {
    let Some(ep) = endpoint("an_unusable_kms_key_stops_the_cold_start") else {
        return;
    };
    let _g = MOTO.lock().await;
    let w = World::new(&ep, true, false).await;
    w.kms.disable_key().key_id(&w.key_id).send().await.unwrap();
    let config = w.config();
    let err = cold_start(&config, &w.sdk, Runner::in_process(config.limits.clone()))
        .await
        .err()
        .expect("a disabled key must stop the cold start");
    assert!(err.to_string().contains("KMS_KEY_ID"), "{err}");
    assert!(err.to_string().contains("Disabled"), "{err}");
}
