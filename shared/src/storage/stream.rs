//! The table's stream as Lambda hands it to a function: a DynamoDB stream event's records, read
//! by both of the stream's readers (the media function and the projector). Images are DynamoDB
//! JSON, read by serde_dynamo.

use serde::Deserialize;

/// The stream event Lambda delivers (the parts the functions read).
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventID", default)]
    pub event_id: Option<String>,
    #[serde(rename = "eventName", default)]
    pub event_name: Option<String>,
    #[serde(default)]
    pub dynamodb: Option<StreamData>,
}

#[derive(Debug, Deserialize)]
pub struct StreamData {
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: Option<String>,
    #[serde(rename = "Keys", default)]
    pub keys: Option<serde_dynamo::Item>,
    #[serde(rename = "NewImage", default)]
    pub new_image: Option<serde_dynamo::Item>,
    /// The item before the change (the stream is NEW_AND_OLD_IMAGES): what tells a MODIFY's
    /// change apart (issue 21's events).
    #[serde(rename = "OldImage", default)]
    pub old_image: Option<serde_dynamo::Item>,
}

/// What a record says happened to its item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Insert,
    Modify,
    Remove,
}

impl StreamRecord {
    /// What Lambda expects in `itemIdentifier` for a stream record: its sequence number.
    pub fn identifier(&self) -> String {
        self.dynamodb
            .as_ref()
            .and_then(|d| d.sequence_number.clone())
            .or_else(|| self.event_id.clone())
            .unwrap_or_default()
    }

    /// The record's `eventName`, when it is one of DynamoDB's three.
    pub fn change(&self) -> Option<Change> {
        match self.event_name.as_deref()? {
            "INSERT" => Some(Change::Insert),
            "MODIFY" => Some(Change::Modify),
            "REMOVE" => Some(Change::Remove),
            _ => None,
        }
    }

    /// The item as the change left it (INSERT and MODIFY records).
    pub fn new_image(&self) -> Option<&serde_dynamo::Item> {
        self.dynamodb.as_ref()?.new_image.as_ref()
    }

    /// The item before the change (MODIFY and REMOVE records).
    pub fn old_image(&self) -> Option<&serde_dynamo::Item> {
        self.dynamodb.as_ref()?.old_image.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_as_lambda_delivers_them() {
        let event: StreamEvent = serde_json::from_str(
            r#"{"Records":[
                {"eventID":"e1","eventName":"MODIFY","dynamodb":{"SequenceNumber":"0042",
                 "Keys":{"pk":{"S":"p#c"},"sk":{"S":"MSG#1"}},
                 "NewImage":{"pk":{"S":"p#c"},"sk":{"S":"MSG#1"},"status":{"S":"read"}},
                 "OldImage":{"pk":{"S":"p#c"},"sk":{"S":"MSG#1"},"status":{"S":"sent"}}}},
                {"eventID":"e2","eventName":"REMOVE","dynamodb":{"Keys":{}}},
                {"eventName":"SOMETHING"}]}"#,
        )
        .unwrap();
        let [modify, remove, odd] = &event.records[..] else {
            panic!("three records")
        };
        assert_eq!(modify.change(), Some(Change::Modify));
        assert_eq!(modify.identifier(), "0042");
        let status = |image: &serde_dynamo::Item| {
            let plain: serde_json::Value = serde_dynamo::from_item(image.clone()).unwrap();
            plain["status"].clone()
        };
        assert_eq!(status(modify.new_image().unwrap()), "read");
        assert_eq!(status(modify.old_image().unwrap()), "sent");
        assert_eq!(remove.change(), Some(Change::Remove));
        assert_eq!(
            remove.identifier(),
            "e2",
            "no sequence number: the event id"
        );
        assert!(remove.new_image().is_none());
        assert_eq!(odd.change(), None);
        assert_eq!(odd.identifier(), "");
    }
}
