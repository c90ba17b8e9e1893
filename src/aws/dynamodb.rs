//! The records table through the DynamoDB SDK: conditional claim, final record, release.
//!
//! Item layout (the contract Terraform builds the table for): hash key `pk` (S), range key
//! `sk` (S), TTL attribute `expires_at` (N, epoch seconds). While a record is in progress
//! the item is a claim: `status = "claimed"`, `claim_owner`, `lease_until` (N, epoch ms).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::ports::{Claim, ClaimOutcome, PortError, RecordKey, RecordStore};

const CLAIMED: &str = "claimed";

/// DynamoDB adapter for [`RecordStore`].
#[derive(Debug, Clone)]
pub struct DynamoRecords {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoRecords {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> DynamoRecords {
        DynamoRecords { client, table }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A JSON value as a DynamoDB attribute; `null` has none (the attribute is left out).
pub fn to_attribute(v: &serde_json::Value) -> Option<AttributeValue> {
    use serde_json::Value;
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(AttributeValue::Bool(*b)),
        Value::Number(x) => Some(AttributeValue::N(x.to_string())),
        Value::String(x) => Some(AttributeValue::S(x.clone())),
        Value::Array(a) => Some(AttributeValue::L(
            a.iter().filter_map(to_attribute).collect(),
        )),
        Value::Object(o) => Some(AttributeValue::M(
            o.iter()
                .filter_map(|(k, v)| to_attribute(v).map(|a| (k.clone(), a)))
                .collect(),
        )),
    }
}

fn key_attrs(key: &RecordKey) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(&key.pk)), ("sk".to_owned(), s(&key.sk))])
}

fn err<E, R>(operation: &'static str, e: &SdkError<E, R>) -> PortError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    PortError::new(operation, DisplayErrorContext(e).to_string())
}

impl RecordStore for DynamoRecords {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError> {
        let mut item = key_attrs(&claim.key);
        item.insert("status".into(), s(CLAIMED));
        item.insert("claim_owner".into(), s(&claim.owner));
        item.insert("lease_until".into(), n(claim.lease_until_ms));
        item.insert("expires_at".into(), n(claim.expires_at));
        item.insert("event_time".into(), s(&claim.event_time));
        if let Some(seq) = &claim.sequencer {
            item.insert("sequencer".into(), s(seq));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :claimed AND (lease_until < :now OR claim_owner = :owner))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", s(CLAIMED))
            .expression_attribute_values(":now", n(claim.now_ms))
            .expression_attribute_values(":owner", s(&claim.owner))
            .send()
            .await;
        match put {
            Ok(_) => Ok(ClaimOutcome::Claimed),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                // Somebody was here first: a final record (duplicate) or a live claim.
                let got = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(&claim.key)))
                    .consistent_read(true)
                    .projection_expression("#status")
                    .expression_attribute_names("#status", "status")
                    .send()
                    .await
                    .map_err(|e| err("dynamodb:GetItem", &e))?;
                let status = got
                    .item()
                    .and_then(|i| i.get("status"))
                    .and_then(|a| a.as_s().ok())
                    .cloned();
                Ok(match status {
                    Some(st) if st != CLAIMED => ClaimOutcome::AlreadyDone { status: st },
                    _ => ClaimOutcome::Busy,
                })
            }
            Err(e) => Err(err("dynamodb:PutItem", &e)),
        }
    }

    async fn finish(
        &self,
        key: &RecordKey,
        owner: &str,
        record: &serde_json::Value,
    ) -> Result<(), PortError> {
        let Some(AttributeValue::M(mut item)) = to_attribute(record) else {
            return Err(PortError::new(
                "dynamodb:PutItem",
                "the record is not a JSON object",
            ));
        };
        item.extend(key_attrs(key));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#status = :claimed AND claim_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", s(CLAIMED))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await
            .map_err(|e| err("dynamodb:PutItem (final record)", &e))?;
        Ok(())
    }

    async fn release(&self, key: &RecordKey, owner: &str) -> Result<(), PortError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression("SET lease_until = :zero")
            .condition_expression("#status = :claimed AND claim_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":claimed", s(CLAIMED))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // Not ours any more (or gone): nothing to give back.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|x| x.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(err("dynamodb:UpdateItem", &e)),
        }
    }
}
