//! The table itself, as template.yaml defines it: the key schema, the read side's indexes, the
//! stream and the TTL attribute — made here once for `ingest-dev create-table` and the tests,
//! so that what they run against is what AWS runs (tests/test_template.py compares the two).

use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;

use super::keys::{BY_ACTIVITY_INDEX, BY_EMAIL_INDEX, BY_PHONE_INDEX};

/// The table's TTL attribute (N, epoch seconds): set on items when `RETENTION_DAYS` is.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The stream's view: the media function reads new images; the projector needs old ones too,
/// to tell what a change changed.
pub const STREAM_VIEW: StreamViewType = StreamViewType::NewAndOldImages;

/// The attributes `by_activity` carries besides its keys, for the list's filters.
pub const ACTIVITY_PROJECTION: [&str; 4] = ["provider", "account_id", "channel", "awaiting_reply"];

/// A CreateTable call for `name` with the whole definition (on demand, the three indexes, the
/// stream), ready to send. TTL is turned on separately (UpdateTimeToLive).
pub fn create_table(client: &Client, name: &str, stream: bool) -> CreateTableFluentBuilder {
    let mut call = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(index(
            BY_ACTIVITY_INDEX,
            &[
                ("activity_shard", KeyType::Hash),
                ("activity_key", KeyType::Range),
            ],
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(
                    ACTIVITY_PROJECTION.iter().map(|a| a.to_string()).collect(),
                ))
                .build(),
        ))
        .global_secondary_indexes(index(
            BY_PHONE_INDEX,
            &[("customer_phone", KeyType::Hash)],
            keys_only(),
        ))
        .global_secondary_indexes(index(
            BY_EMAIL_INDEX,
            &[("customer_email", KeyType::Hash)],
            keys_only(),
        ));
    for attribute in [
        "pk",
        "sk",
        "activity_shard",
        "activity_key",
        "customer_phone",
        "customer_email",
    ] {
        call = call.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set"),
        );
    }
    if stream {
        call = call.stream_specification(stream_specification());
    }
    call
}

/// The stream as the table has it.
pub fn stream_specification() -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(STREAM_VIEW)
        .build()
        .expect("enabled is set")
}

fn key(name: &str, key_type: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .expect("name and type are set")
}

fn keys_only() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build()
}

fn index(name: &str, keys: &[(&str, KeyType)], projection: Projection) -> GlobalSecondaryIndex {
    let mut index = GlobalSecondaryIndex::builder()
        .index_name(name)
        .projection(projection);
    for (attribute, key_type) in keys {
        index = index.key_schema(key(attribute, key_type.clone()));
    }
    index.build().expect("name, keys and projection are set")
}
