//! The media function's two table operations, and reading a message item in either of the two
//! shapes it meets it in: a stream record's image (DynamoDB JSON, read by serde_dynamo) and the
//! SDK's item from GetItem.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::message::StoredMedia;
use crate::storage::keys::MESSAGE_PREFIX;
use crate::storage::{consistent_get, item_key, string, Item};

/// What the media function needs of a message item.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageView {
    pub pk: String,
    pub sk: String,
    pub provider: String,
    pub conversation_id: String,
    pub message_id: String,
    pub channel: Option<String>,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AttachmentView {
    pub url: Option<String>,
    pub expires_at: Option<String>,
    pub mime_type: Option<String>,
    pub stored: bool,
}

impl AttachmentView {
    /// A URL to copy, on an attachment that has no `stored` yet.
    pub fn pending_url(&self) -> Option<&str> {
        match (&self.url, self.stored) {
            (Some(url), false) => Some(url),
            _ => None,
        }
    }
}

impl MessageView {
    /// A message item; `None` for any other item (an id item, a quarantined body).
    pub fn of(item: &Item) -> Option<MessageView> {
        let text = |name: &str| string(item, name);
        let sk = text("sk")?;
        if !sk.starts_with(MESSAGE_PREFIX) {
            return None;
        }
        let attachments = item
            .get("attachments")
            .and_then(|list| list.as_l().ok())
            .map(|list| list.iter().map(AttachmentView::of).collect())
            .unwrap_or_default();
        Some(MessageView {
            pk: text("pk")?,
            sk,
            provider: text("provider").unwrap_or_default(),
            conversation_id: text("conversation_id").unwrap_or_default(),
            message_id: text("message_id").unwrap_or_default(),
            channel: text("channel"),
            attachments,
        })
    }

    /// A stream record's image (DynamoDB JSON, as serde_dynamo reads it), read as [`Self::of`]
    /// reads an item.
    pub fn of_image(image: &serde_dynamo::Item) -> Option<MessageView> {
        MessageView::of(&image.clone().into())
    }

    pub fn has_pending(&self) -> bool {
        self.attachments.iter().any(|a| a.pending_url().is_some())
    }
}

impl AttachmentView {
    /// An element of `attachments` (anything but a map has nothing to copy).
    fn of(value: &AttributeValue) -> AttachmentView {
        let empty = Item::new();
        let attachment = value.as_m().unwrap_or(&empty);
        let text = |name: &str| string(attachment, name);
        AttachmentView {
            url: text("url"),
            expires_at: text("expires_at"),
            mime_type: text("mime_type"),
            stored: attachment
                .get("stored")
                .is_some_and(|stored| !stored.is_null()),
        }
    }
}

/// The table, as the media function uses it.
#[derive(Clone, Debug)]
pub struct MediaTable {
    client: Client,
    table: String,
}

impl MediaTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        MediaTable {
            client,
            table: table.into(),
        }
    }

    /// The message item as it is now (a consistent read), or `None` when it is gone.
    pub async fn current(&self, pk: &str, sk: &str) -> Result<Option<MessageView>, String> {
        let output = consistent_get(&self.client, &self.table, pk, sk)
            .projection_expression("#pk, #sk, #provider, #conversation, #message, #channel, #att")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_names("#provider", "provider")
            .expression_attribute_names("#conversation", "conversation_id")
            .expression_attribute_names("#message", "message_id")
            .expression_attribute_names("#channel", "channel")
            .expression_attribute_names("#att", "attachments")
            .send()
            .await
            .map_err(crate::aws::failed("DynamoDB GetItem", "the table"))?;
        Ok(output.item.and_then(|item| MessageView::of(&item)))
    }

    /// Sets `stored` on attachment `index` only, on condition that it is still `url` and has no
    /// `stored` yet: nothing else of the item is written, so a concurrent status update is
    /// never undone. `false` when the condition failed (another copy got there first, or the
    /// attachment changed): nothing to do then.
    pub async fn set_stored(
        &self,
        pk: &str,
        sk: &str,
        index: usize,
        url: &str,
        stored: &StoredMedia,
    ) -> Result<bool, String> {
        let value = serde_dynamo::to_attribute_value::<_, AttributeValue>(stored)
            .map_err(|e| format!("cannot write stored: {e}"))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .update_expression(update_expression(index))
            .condition_expression(condition_expression(index))
            .expression_attribute_names("#att", "attachments")
            .expression_attribute_names("#url", "url")
            .expression_attribute_names("#stored", "stored")
            .expression_attribute_values(":url", AttributeValue::S(url.to_string()))
            .expression_attribute_values(":stored", value)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(crate::aws::failed("DynamoDB UpdateItem", "the table")(e)),
        }
    }
}

/// `SET #att[<index>].#stored = :stored`: that one list element's `stored`, nothing else.
pub fn update_expression(index: usize) -> String {
    format!("SET #att[{index}].#stored = :stored")
}

/// The element is still the attachment that was copied, and nobody stored it meanwhile.
pub fn condition_expression(index: usize) -> String {
    format!("#att[{index}].#url = :url AND attribute_not_exists(#att[{index}].#stored)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::plain_from_sdk;
    use serde_json::json;

    #[test]
    fn reads_a_stream_image() {
        let image = json!({
            "pk": {"S": "callbell#c1"},
            "sk": {"S": "MSG#2025#m1"},
            "provider": {"S": "callbell"},
            "conversation_id": {"S": "c1"},
            "message_id": {"S": "m1"},
            "channel": {"S": "whatsapp"},
            "schema_version": {"N": "2"},
            "attachments": {"L": [
                {"M": {"kind": {"S": "image"}, "url": {"S": "https://h/a.jpg"},
                       "width": {"N": "304"}}},
                {"M": {"kind": {"S": "audio"}, "url": {"S": "https://h/b.ogg"},
                       "stored": {"M": {"error": {"S": "gone"}, "at": {"S": "t"}}}}},
                {"M": {"kind": {"S": "document"}, "expires_at": {"S": "2025-01-01T00:00:00.000Z"}}}
            ]}
        });
        let image: serde_dynamo::Item = serde_json::from_value(image).unwrap();
        let plain: serde_json::Value = serde_dynamo::from_item(image.clone()).unwrap();
        assert_eq!(plain["schema_version"], json!(2));
        assert_eq!(plain["attachments"][0]["width"], json!(304));
        let view = MessageView::of_image(&image).unwrap();
        assert_eq!(view.channel.as_deref(), Some("whatsapp"));
        assert_eq!(view.attachments.len(), 3);
        assert_eq!(view.attachments[0].pending_url(), Some("https://h/a.jpg"));
        assert_eq!(view.attachments[1].pending_url(), None, "already stored");
        assert_eq!(view.attachments[2].pending_url(), None, "no url");
        assert!(view.has_pending());
        let id_item = crate::storage::item_key("callbell#c1", "ID#m1");
        assert!(MessageView::of(&id_item).is_none());
    }

    #[test]
    fn a_message_reads_the_same_whatever_form_its_raw_has() {
        use base64::Engine;
        let image = |raw: serde_json::Value| {
            let image = json!({
                "pk": {"S": "partoo#7"}, "sk": {"S": "MSG#2025#1"}, "provider": {"S": "partoo"},
                "conversation_id": {"S": "7"}, "message_id": {"S": "1"},
                "attachments": {"L": [{"M": {"kind": {"S": "image"}, "url": {"S": "https://h/a.png"}}}]},
                "raw": raw,
            });
            let image: serde_dynamo::Item = serde_json::from_value(image).unwrap();
            MessageView::of_image(&image)
        };
        let body = br#"{"type":"message_created"}"#;
        let packed = crate::storage::raw::compress(body);
        let schema_3 =
            image(json!({"B": base64::engine::general_purpose::STANDARD.encode(&packed)}));
        let schema_2 = image(json!({"S": std::str::from_utf8(body).unwrap()}));
        assert!(schema_3.as_ref().is_some_and(|v| v.has_pending()));
        assert_eq!(schema_3, schema_2);
        // And from GetItem's values.
        let sdk = |raw: AttributeValue| {
            let mut item = item_key("partoo#7", "MSG#2025#1");
            item.insert("raw".into(), raw);
            MessageView::of(&item)
        };
        assert_eq!(
            sdk(crate::storage::raw::attribute(body)),
            sdk(AttributeValue::S("{}".into()))
        );
    }

    #[test]
    fn expressions_touch_one_element() {
        assert_eq!(update_expression(2), "SET #att[2].#stored = :stored");
        assert_eq!(
            condition_expression(2),
            "#att[2].#url = :url AND attribute_not_exists(#att[2].#stored)"
        );
    }

    #[test]
    fn stored_media_is_written_as_the_contract_names_it() {
        use crate::message::MediaError;
        let copy = StoredMedia::Copy {
            bucket: "b".into(),
            key: "media/p/c/m/0".into(),
            sha256: "ab".into(),
            size_bytes: 12,
            content_type: "image/jpeg".into(),
            stored_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let value = plain_from_sdk(&serde_dynamo::to_attribute_value(&copy).unwrap());
        assert_eq!(
            value,
            json!({"bucket": "b", "key": "media/p/c/m/0", "sha256": "ab", "size_bytes": 12,
                   "content_type": "image/jpeg", "stored_at": "2026-01-01T00:00:00.000Z"})
        );
        let failed = StoredMedia::Failed {
            error: MediaError::TooLarge,
            at: "t".into(),
        };
        let value = plain_from_sdk(&serde_dynamo::to_attribute_value(&failed).unwrap());
        assert_eq!(value, json!({"error": "too_large", "at": "t"}));
    }
}
