//! `create-table`: the table of the contract, created once and waited for.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableDescription, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;

use crate::error::{aws, Context, Error, Result};

const TTL_ATTRIBUTE: &str = "expires_at";
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .context("invalid key schema element")
}

fn string_attribute(name: &str) -> Result<AttributeDefinition> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .context("invalid attribute definition")
}

/// The stream the media function consumes: new images.
fn new_image_stream() -> Result<StreamSpecification> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewImage)
        .build()
        .context("invalid stream specification")
}

/// Creates `name` (pk S HASH, sk S RANGE, on demand, a NEW_IMAGE stream) unless it exists,
/// waits until it is ACTIVE, turns TTL on for `expires_at` and the stream on if it was off.
pub async fn create(client: &Client, name: &str) -> Result<()> {
    let created = client
        .create_table()
        .table_name(name)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .attribute_definitions(string_attribute("pk")?)
        .attribute_definitions(string_attribute("sk")?)
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(new_image_stream()?)
        .send()
        .await;
    match created {
        Ok(_) => println!("table {name}: created"),
        Err(err) if err.code() == Some("ResourceInUseException") => {
            println!("table {name}: already exists");
        }
        Err(err) => {
            return Err(Error::msg(format!(
                "cannot create table {name}: {}",
                aws(err)
            )))
        }
    }
    wait_until_active(client, name).await?;
    enable_stream(client, name).await?;
    enable_ttl(client, name).await?;
    warm_transactions(client, name).await
}

/// One transaction that writes nothing (a condition check on a key no item has), so that a
/// freshly started DynamoDB Local has loaded its transaction code before the first message:
/// the first one took over a second there, past the functions' share of their time budget.
async fn warm_transactions(client: &Client, name: &str) -> Result<()> {
    use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
    let started = Instant::now();
    let check = ConditionCheck::builder()
        .table_name(name)
        .key("pk", AttributeValue::S("ingest-dev#ready".into()))
        .key("sk", AttributeValue::S("ingest-dev#ready".into()))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .context("invalid condition check")?;
    client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().condition_check(check).build())
        .send()
        .await
        .map_err(aws)
        .with_context(|| format!("table {name} does not take transactions"))?;
    println!(
        "table {name}: transactions answer ({} ms for the first)",
        started.elapsed().as_millis()
    );
    Ok(())
}

/// A table made before the media function has no stream: turn it on.
async fn enable_stream(client: &Client, name: &str) -> Result<()> {
    let table = describe(client, name).await?;
    let current = table.stream_specification();
    let on = current.is_some_and(|s| {
        s.stream_enabled() && s.stream_view_type() == Some(&StreamViewType::NewImage)
    });
    if on {
        return Ok(());
    }
    if current.is_some_and(|s| s.stream_enabled()) {
        return Err(Error::msg(format!(
            "table {name} has a stream of another view type; the media function needs NEW_IMAGE"
        )));
    }
    client
        .update_table()
        .table_name(name)
        .stream_specification(new_image_stream()?)
        .send()
        .await
        .map_err(aws)
        .with_context(|| format!("cannot enable the stream of table {name}"))?;
    wait_until_active(client, name).await?;
    println!("table {name}: NEW_IMAGE stream enabled");
    Ok(())
}

async fn describe(client: &Client, name: &str) -> Result<TableDescription> {
    client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(aws)
        .with_context(|| format!("cannot describe table {name}"))?
        .table
        .ok_or_else(|| Error::msg(format!("DescribeTable {name} returned no table")))
}

async fn wait_until_active(client: &Client, name: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        let table = describe(client, name).await?;
        check_key_schema(name, table.key_schema())?;
        if table.table_status() == Some(&TableStatus::Active) {
            return Ok(());
        }
        if started.elapsed() > ACTIVE_TIMEOUT {
            return Err(Error::msg(format!(
                "table {name} is still {:?} after {}s",
                table.table_status(),
                ACTIVE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An existing table with another key schema is an error, not "fine".
fn check_key_schema(name: &str, schema: &[KeySchemaElement]) -> Result<()> {
    let has = |attribute: &str, key_type: KeyType| {
        schema
            .iter()
            .any(|k| k.attribute_name() == attribute && *k.key_type() == key_type)
    };
    if schema.len() == 2 && has("pk", KeyType::Hash) && has("sk", KeyType::Range) {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "table {name} exists with another key schema ({schema:?}); expected pk HASH, sk RANGE"
        )))
    }
}

async fn enable_ttl(client: &Client, name: &str) -> Result<()> {
    let current = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(aws)
        .with_context(|| format!("cannot describe TTL of table {name}"))?;
    if let Some(description) = current.time_to_live_description() {
        let on = matches!(
            description.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        );
        if on && description.attribute_name() == Some(TTL_ATTRIBUTE) {
            return Ok(());
        }
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .context("invalid TTL specification")?,
        )
        .send()
        .await
        .map_err(aws)
        .with_context(|| format!("cannot enable TTL on {TTL_ATTRIBUTE} for table {name}"))?;
    println!("table {name}: TTL attribute {TTL_ATTRIBUTE}");
    Ok(())
}
