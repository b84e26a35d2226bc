//! Erasure (feature `erase`, for `ingest-dev erase`): one customer's data removed from the table
//! and the media bucket, on request (docs/CONTRACT.md, "Retention and erasure (3)").
//!
//! The customer is one conversation (`--provider`, `--conversation`) or everyone the customer
//! indexes find by phone or address, on any provider, matched as `GET /customers` matches.
//! For each: the quarantine items whose body names them (the conversation id in a conversation
//! field, the contact's id in a contact field, the phone by its digits, the address without
//! case) go first, while the summaries that say who the customer is are still there; then each
//! conversation's media copies (everything under its prefix in the bucket), its message and id
//! items and anything else in its partition, and its summary last — so that a run cut short
//! finds the rest on the next, which finishes it. A dry run reads the same and deletes nothing;
//! the report has counts, never content.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use serde_json::Value;

use crate::aws::failed;
use crate::providers::ProviderId;
use crate::read::customer::{email_key, phone_key};
use crate::storage::keys::{
    conversation_key, quarantine_key, BY_EMAIL_INDEX, BY_PHONE_INDEX, ID_PREFIX, MESSAGE_PREFIX,
    SUMMARY_SORT_KEY,
};
use crate::storage::{item_key, Item, SummaryItem};

/// DynamoDB's limit of one BatchWriteItem.
const BATCH_WRITE: usize = 25;
/// S3's limit of one DeleteObjects.
const BATCH_DELETE_OBJECTS: usize = 1000;
/// How often a batch's unprocessed writes are sent again.
const BATCH_ATTEMPTS: u32 = 8;

/// Whose data to erase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Conversation {
        provider: ProviderId,
        conversation_id: String,
    },
    /// Every conversation whose customer has this phone number (compared by its digits).
    Phone(String),
    /// Every conversation whose customer has this address (compared without case).
    Email(String),
}

/// How many of each thing a run removed (or, dry, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub conversations: usize,
    pub messages: usize,
    pub id_items: usize,
    pub summaries: usize,
    /// Other items of the conversations' partitions (none today; future read-side items).
    pub other_items: usize,
    pub media_objects: usize,
    pub quarantined: usize,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        *self == Report::default()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "conversations\t{}", self.conversations)?;
        writeln!(f, "messages\t{}", self.messages)?;
        writeln!(f, "id items\t{}", self.id_items)?;
        writeln!(f, "summaries\t{}", self.summaries)?;
        writeln!(f, "other items\t{}", self.other_items)?;
        writeln!(f, "media objects\t{}", self.media_objects)?;
        write!(f, "quarantined bodies\t{}", self.quarantined)
    }
}

/// What went wrong; a run that fails may be run again, and finishes what this one left.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("{0}")]
    Aws(String),
    #[error("the subject has no {0} to look for")]
    EmptySubject(&'static str),
    #[error("erasing media copies needs the media bucket (--bucket)")]
    NoBucket,
}

/// The tables and buckets a run works on.
pub struct Eraser {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    /// The media bucket and a client for it; without one, conversations that have media
    /// copies are refused rather than half erased.
    pub media: Option<(aws_sdk_s3::Client, String)>,
    pub dry_run: bool,
}

/// Who a body must name to be the customer's.
#[derive(Debug, Default)]
struct Names {
    conversation_ids: BTreeSet<String>,
    contact_ids: BTreeSet<String>,
    phones: BTreeSet<String>,
    emails: BTreeSet<String>,
}

impl Eraser {
    pub async fn erase(&self, subject: &Subject) -> Result<Report, EraseError> {
        let conversations = self.conversations(subject).await?;
        let mut names = Names::default();
        match subject {
            Subject::Phone(phone) => {
                names.phones.extend(phone_key(phone));
            }
            Subject::Email(email) => {
                names.emails.extend(email_key(email));
            }
            Subject::Conversation { .. } => {}
        }
        for (pk, summary) in &conversations {
            if let Some((_, conversation_id)) = pk.split_once('#') {
                names.conversation_ids.insert(conversation_id.to_string());
            }
            if let Some(summary) = summary {
                let contact = &summary.state.summary.contact;
                names.contact_ids.extend(contact.get("id").cloned());
                names.phones.extend(summary.customer_phone.clone());
                names.emails.extend(summary.customer_email.clone());
            }
        }
        let mut report = Report {
            quarantined: self.erase_quarantined(&names).await?,
            ..Report::default()
        };
        for (pk, summary) in &conversations {
            self.erase_conversation(pk, summary.is_some(), &mut report)
                .await?;
        }
        Ok(report)
    }

    /// The conversations of `subject`, each with its summary when it has one.
    async fn conversations(
        &self,
        subject: &Subject,
    ) -> Result<Vec<(String, Option<SummaryItem>)>, EraseError> {
        let pks: Vec<String> = match subject {
            Subject::Conversation {
                provider,
                conversation_id,
            } => vec![conversation_key(*provider, conversation_id)],
            Subject::Phone(phone) => {
                let digits = phone_key(phone).ok_or(EraseError::EmptySubject("phone digits"))?;
                self.index_keys(BY_PHONE_INDEX, "customer_phone", &digits)
                    .await?
            }
            Subject::Email(email) => {
                let address = email_key(email).ok_or(EraseError::EmptySubject("address"))?;
                self.index_keys(BY_EMAIL_INDEX, "customer_email", &address)
                    .await?
            }
        };
        let mut found = Vec::new();
        for pk in pks {
            let summary = self.summary(&pk).await?;
            found.push((pk, summary));
        }
        Ok(found)
    }

    /// The partition keys an index finds for `value` (each once).
    async fn index_keys(
        &self,
        index: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<String>, EraseError> {
        let mut keys = BTreeSet::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", attribute)
                .expression_attribute_values(":v", AttributeValue::S(value.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| EraseError::Aws(failed("Query", "the table")(e)))?;
            for item in page.items() {
                if let Some(AttributeValue::S(pk)) = item.get("pk") {
                    keys.insert(pk.clone());
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(keys.into_iter().collect());
            }
        }
    }

    async fn summary(&self, pk: &str) -> Result<Option<SummaryItem>, EraseError> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, SUMMARY_SORT_KEY)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| EraseError::Aws(failed("GetItem", "the table")(e)))?;
        match output.item {
            Some(item) => SummaryItem::from_item(item)
                .map(Some)
                .map_err(|e| EraseError::Aws(e.to_string())),
            None => Ok(None),
        }
    }

    /// Every item of a partition, with the `attributes` named (the keys among them).
    async fn partition(&self, pk: &str, attributes: &[&str]) -> Result<Vec<Item>, EraseError> {
        let mut items = Vec::new();
        let mut start = None;
        // By placeholders: some names (`raw`) are reserved words of expressions.
        let placeholders: Vec<String> = (0..attributes.len()).map(|i| format!("#a{i}")).collect();
        loop {
            let mut query = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
                .projection_expression(placeholders.join(", "));
            for (placeholder, name) in placeholders.iter().zip(attributes) {
                query = query.expression_attribute_names(placeholder, *name);
            }
            let page = query
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| EraseError::Aws(failed("Query", "the table")(e)))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The quarantined bodies, of every provider, that name the customer.
    async fn erase_quarantined(&self, names: &Names) -> Result<usize, EraseError> {
        let mut doomed = Vec::new();
        for provider in ProviderId::ALL {
            let pk = quarantine_key(*provider);
            for item in self.partition(&pk, &["pk", "sk", "raw"]).await? {
                // Through body_of, as every reader of raw: whichever form it is kept in.
                let Some(Ok(body)) = item.get("raw").map(crate::storage::raw::body_of) else {
                    continue;
                };
                if names.named_in(&body) {
                    doomed.push(item);
                }
            }
        }
        self.delete_items(&doomed).await?;
        Ok(doomed.len())
    }

    async fn erase_conversation(
        &self,
        pk: &str,
        has_summary: bool,
        report: &mut Report,
    ) -> Result<(), EraseError> {
        let items = self.partition(pk, &["pk", "sk"]).await?;
        if items.is_empty() && !has_summary {
            return Ok(());
        }
        report.conversations += 1;
        report.media_objects += self.erase_media(pk).await?;
        let sk = |item: &Item| match item.get("sk") {
            Some(AttributeValue::S(sk)) => sk.clone(),
            _ => String::new(),
        };
        let (summaries, rest): (Vec<Item>, Vec<Item>) =
            items.into_iter().partition(|i| sk(i) == SUMMARY_SORT_KEY);
        for item in &rest {
            let sk = sk(item);
            if sk.starts_with(MESSAGE_PREFIX) {
                report.messages += 1;
            } else if sk.starts_with(ID_PREFIX) {
                report.id_items += 1;
            } else {
                report.other_items += 1;
            }
        }
        self.delete_items(&rest).await?;
        // Last: while it is there, the customer indexes still find this conversation.
        report.summaries += summaries.len();
        self.delete_items(&summaries).await
    }

    /// Deletes every media copy under the conversation's prefix; how many there were.
    async fn erase_media(&self, pk: &str) -> Result<usize, EraseError> {
        let Some((provider, conversation_id)) = pk.split_once('#') else {
            return Ok(0);
        };
        let Some((s3, bucket)) = &self.media else {
            // Without the bucket the copies cannot even be counted: refuse rather than leave
            // them behind silently, unless the conversation has none recorded.
            return if self.has_media_copies(pk).await? {
                Err(EraseError::NoBucket)
            } else {
                Ok(0)
            };
        };
        let prefix = crate::media::conversation_prefix(provider, conversation_id);
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| EraseError::Aws(failed("S3 ListObjectsV2", "S3")(e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            token = page.next_continuation_token;
            if token.is_none() {
                break;
            }
        }
        if !self.dry_run {
            use aws_sdk_s3::types::{Delete, ObjectIdentifier};
            for chunk in keys.chunks(BATCH_DELETE_OBJECTS) {
                let objects = chunk
                    .iter()
                    .map(|key| ObjectIdentifier::builder().key(key).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| EraseError::Aws(e.to_string()))?;
                let delete = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(|e| EraseError::Aws(e.to_string()))?;
                let output = s3
                    .delete_objects()
                    .bucket(bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| EraseError::Aws(failed("S3 DeleteObjects", "S3")(e)))?;
                if let Some(error) = output.errors().first() {
                    return Err(EraseError::Aws(format!(
                        "DeleteObjects: {} of the conversation's copies not deleted ({})",
                        output.errors().len(),
                        error.code().unwrap_or("error")
                    )));
                }
            }
        }
        Ok(keys.len())
    }

    /// Whether any message of the conversation records a copy in the bucket.
    async fn has_media_copies(&self, pk: &str) -> Result<bool, EraseError> {
        let items = self.partition(pk, &["sk", "attachments"]).await?;
        Ok(items.iter().any(|item| {
            matches!(item.get("attachments"), Some(AttributeValue::L(list))
                if list.iter().any(|a| matches!(a, AttributeValue::M(m) if m.contains_key("stored"))))
        }))
    }

    /// Deletes `items` (by their keys) in batches, sending unprocessed writes again.
    async fn delete_items(&self, items: &[Item]) -> Result<(), EraseError> {
        if self.dry_run {
            return Ok(());
        }
        for chunk in items.chunks(BATCH_WRITE) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let key: HashMap<String, AttributeValue> = ["pk", "sk"]
                        .into_iter()
                        .filter_map(|k| item.get(k).map(|v| (k.to_string(), v.clone())))
                        .collect();
                    DeleteRequest::builder()
                        .set_key(Some(key))
                        .build()
                        .map(|delete| WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<_, _>>()
                .map_err(|e| EraseError::Aws(e.to_string()))?;
            for attempt in 0.. {
                let output = self
                    .dynamodb
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| EraseError::Aws(failed("BatchWriteItem", "the table")(e)))?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt + 1 >= BATCH_ATTEMPTS {
                    return Err(EraseError::Aws(format!(
                        "BatchWriteItem: {} deletes still unprocessed after {BATCH_ATTEMPTS} attempts",
                        requests.len()
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }
}

impl Names {
    /// Whether `body` names the customer: a JSON body by its fields (a conversation id in a
    /// field whose path says conversation — `conversation_id`, `conversation.id`, the last
    /// segment of `conversationHref` —, a contact id in a contact field, any string whose
    /// digits are the phone's or which is the address); any other body by its text holding the
    /// phone's digits, the address or a conversation id.
    fn named_in(&self, body: &[u8]) -> bool {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => self.named_in_value(&value, &mut Vec::new()),
            Err(_) => {
                let text = String::from_utf8_lossy(body).to_lowercase();
                let digits: String = text.chars().filter(char::is_ascii_digit).collect();
                self.emails.iter().any(|e| text.contains(e.as_str()))
                    || self.phones.iter().any(|p| digits.contains(p.as_str()))
                    || self
                        .conversation_ids
                        .iter()
                        .any(|c| text.contains(&c.to_lowercase()))
            }
        }
    }

    fn named_in_value<'v>(&self, value: &'v Value, path: &mut Vec<&'v str>) -> bool {
        match value {
            Value::Object(members) => members.iter().any(|(name, member)| {
                path.push(name);
                let named = self.named_in_value(member, path);
                path.pop();
                named
            }),
            Value::Array(items) => items.iter().any(|item| self.named_in_value(item, path)),
            Value::String(text) => self.names_text(text, path),
            Value::Number(number) => self.names_text(&number.to_string(), path),
            _ => false,
        }
    }

    fn names_text(&self, text: &str, path: &[&str]) -> bool {
        let under = |word: &str| path.iter().any(|p| p.to_ascii_lowercase().contains(word));
        let last_segment = text
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(text);
        (under("conversation")
            && (self.conversation_ids.contains(text)
                || self.conversation_ids.contains(last_segment)))
            || (under("contact") && self.contact_ids.contains(text))
            || phone_key(text).is_some_and(|digits| self.phones.contains(&digits))
            || email_key(text).is_some_and(|address| self.emails.contains(&address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            conversation_ids: ["77".to_string(), "chat-9".to_string()].into(),
            contact_ids: ["c1".to_string()].into(),
            phones: ["33612345678".to_string()].into(),
            emails: ["john.doe@example.com".to_string()].into(),
        }
    }

    #[test]
    fn bodies_name_the_customer_by_their_fields() {
        let names = names();
        for body in [
            r#"{"payload":{"conversation":{"id":77}}}"#,
            r#"{"payload":{"message":{"conversation_id":"77"}}}"#,
            r#"{"payload":{"contact":{"conversationHref":"https://dash.callbell.eu/chat/chat-9"}}}"#,
            r#"{"payload":{"contact":{"uuid":"c1"}}}"#,
            r#"{"payload":{"from":"+33 6 12 34 56 78"}}"#,
            r#"{"list":[{"email":"JOHN.DOE@example.COM"}]}"#,
            "not json, but +33 6 12 34 56 78 in it",
            "not json: John.Doe@Example.com",
        ] {
            assert!(names.named_in(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn other_bodies_are_not_the_customers() {
        let names = names();
        for body in [
            // 77 that is not a conversation id, c1 that is not a contact's.
            r#"{"payload":{"message":{"id":77,"conversation_id":78},"org_id":"c1"}}"#,
            r#"{"payload":{"from":"+33 6 12 34 56 79","email":"jane@example.com"}}"#,
            "",
            "not json at all",
        ] {
            assert!(!names.named_in(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn reports_count_and_never_show_content() {
        let report = Report {
            conversations: 2,
            messages: 5,
            media_objects: 1,
            ..Report::default()
        };
        let shown = report.to_string();
        assert!(shown.contains("conversations\t2") && shown.contains("messages\t5"));
        assert!(!report.is_empty() && Report::default().is_empty());
    }
}
