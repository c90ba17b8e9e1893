//! The records table through the DynamoDB SDK: conditional claim, final record, release.
//!
//! Item layout (the contract Terraform builds the table for): hash key `pk` (S), range key
//! `sk` (S), TTL attribute `expires_at` (N, epoch seconds). While a record is in progress
//! the item is a claim: `status = "claimed"`, `claim_owner`, `lease_until` (N, epoch ms).
//!
//! Beside the records of a key sits its "latest" guard: `sk = "#latest"` (no version id or
//! sequencer starts with `#`), `seq` (S, the highest sequencer handled, padded to a fixed
//! width so that string order is numeric order), `expires_at`, and while an output is
//! being written `writer` (S, request id) and `writer_until` (N, epoch ms).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::ports::{
    Advance, AdvanceOutcome, Claim, ClaimOutcome, PortError, RecordKey, RecordStore,
};

const CLAIMED: &str = "claimed";
/// The sort key of a key's "latest" guard item.
pub const LATEST_SK: &str = "#latest";

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

fn latest_key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(LATEST_SK))])
}

fn is_conditional_failure<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    e.as_service_error()
        .is_some_and(|x| x.is_conditional_check_failed_exception())
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

    async fn latest(&self, pk: &str) -> Result<Option<String>, PortError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(latest_key(pk)))
            .consistent_read(true)
            .projection_expression("seq")
            .send()
            .await
            .map_err(|e| err("dynamodb:GetItem (latest)", &e))?;
        Ok(got
            .item()
            .and_then(|i| i.get("seq"))
            .and_then(|a| a.as_s().ok())
            .cloned())
    }

    async fn advance(&self, adv: &Advance) -> Result<AdvanceOutcome, PortError> {
        // Equal passes: it is this same event again (a retry), which must be able to finish.
        let newest = "(attribute_not_exists(seq) OR seq <= :new)";
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(latest_key(&adv.pk)))
            .expression_attribute_values(":new", s(&adv.seq))
            .expression_attribute_values(":exp", n(adv.expires_at));
        req = match &adv.lock {
            Some((owner, until)) => req
                .update_expression(
                    "SET seq = :new, expires_at = :exp, writer = :owner, writer_until = :until",
                )
                .condition_expression(format!(
                    "{newest} AND (attribute_not_exists(writer) OR writer = :owner OR writer_until < :now)"
                ))
                .expression_attribute_values(":owner", s(owner))
                .expression_attribute_values(":until", n(*until))
                .expression_attribute_values(":now", n(adv.now_ms)),
            None => req
                .update_expression("SET seq = :new, expires_at = :exp")
                .condition_expression(newest),
        };
        match req.send().await {
            Ok(_) => Ok(AdvanceOutcome::Advanced),
            Err(e) if is_conditional_failure(&e) => {
                // Either a newer event was handled, or a live writer holds the lock.
                match self.latest(&adv.pk).await? {
                    Some(latest) if latest > adv.seq => Ok(AdvanceOutcome::Older { latest }),
                    _ => Ok(AdvanceOutcome::Locked),
                }
            }
            Err(e) => Err(err("dynamodb:UpdateItem (latest)", &e)),
        }
    }

    async fn unlock(&self, pk: &str, owner: &str) -> Result<(), PortError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(latest_key(pk)))
            .update_expression("REMOVE writer, writer_until")
            .condition_expression("writer = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // Not ours any more (it expired and was taken over): nothing to give back.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(err("dynamodb:UpdateItem (unlock)", &e)),
        }
    }
}
