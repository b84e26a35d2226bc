//! `create-table`: the table of the contract, created once and waited for.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
use aws_sdk_dynamodb::types::{
    KeySchemaElement, KeyType, TableDescription, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;

use crate::error::{aws, Context, Error, Result};

use ingest::storage::table::TTL_ATTRIBUTE;

const ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates `name` as template.yaml defines the table (pk S HASH, sk S RANGE, on demand, the
/// read side's indexes, a NEW_AND_OLD_IMAGES stream) unless it exists, waits until it is
/// ACTIVE, then brings an existing one up to date: TTL on `expires_at`, the stream on, the
/// indexes a table made before the read side lacks.
pub async fn create(client: &Client, name: &str) -> Result<()> {
    let created = ingest::storage::table::create_table(client, name, true)
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
    create_missing_indexes(client, name).await?;
    enable_ttl(client, name).await?;
    warm_transactions(client, name).await
}

/// Adds the read side's indexes a table made before them lacks (one UpdateTable each, as
/// DynamoDB allows), waiting for each to become ACTIVE.
async fn create_missing_indexes(client: &Client, name: &str) -> Result<()> {
    use aws_sdk_dynamodb::types::{CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
    let wanted = ingest::storage::table::create_table(client, name, false);
    let (indexes, attributes) = (
        wanted
            .get_global_secondary_indexes()
            .clone()
            .unwrap_or_default(),
        wanted
            .get_attribute_definitions()
            .clone()
            .unwrap_or_default(),
    );
    for index in indexes {
        let table = describe(client, name).await?;
        if table
            .global_secondary_indexes()
            .iter()
            .any(|i| i.index_name() == Some(index.index_name()))
        {
            continue;
        }
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(index.index_name())
            .set_key_schema(Some(index.key_schema().to_vec()))
            .set_projection(index.projection().cloned())
            .build()
            .context("invalid index")?;
        client
            .update_table()
            .table_name(name)
            .set_attribute_definitions(Some(attributes.clone()))
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder().create(create).build(),
            )
            .send()
            .await
            .map_err(aws)
            .with_context(|| format!("cannot add index {} to table {name}", index.index_name()))?;
        wait_until_active(client, name).await?;
        println!("table {name}: index {} added", index.index_name());
    }
    Ok(())
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

/// A table made before the media function has no stream: turn it on. One made before the read
/// side has a NEW_IMAGE stream, which DynamoDB cannot change in place: that is an error saying
/// what to do.
async fn enable_stream(client: &Client, name: &str) -> Result<()> {
    let table = describe(client, name).await?;
    let current = table.stream_specification();
    let on = current.is_some_and(|s| {
        s.stream_enabled() && s.stream_view_type() == Some(&ingest::storage::table::STREAM_VIEW)
    });
    if on {
        return Ok(());
    }
    if current.is_some_and(|s| s.stream_enabled()) {
        return Err(Error::msg(format!(
            "table {name} has a stream of another view type; the media function and the projector \
             need NEW_AND_OLD_IMAGES (disable its stream, then run create-table again)"
        )));
    }
    client
        .update_table()
        .table_name(name)
        .stream_specification(ingest::storage::table::stream_specification())
        .send()
        .await
        .map_err(aws)
        .with_context(|| format!("cannot enable the stream of table {name}"))?;
    wait_until_active(client, name).await?;
    println!("table {name}: NEW_AND_OLD_IMAGES stream enabled");
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
        let indexes_ready = table
            .global_secondary_indexes()
            .iter()
            .all(|i| i.index_status() == Some(&aws_sdk_dynamodb::types::IndexStatus::Active));
        if table.table_status() == Some(&TableStatus::Active) && indexes_ready {
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

/// The table's definition as CloudFormation's `AWS::DynamoDB::Table` properties write it (key
/// schema, attribute definitions, indexes, stream), from the one the code creates.
pub fn definition() -> serde_json::Value {
    use serde_json::json;
    // Building the call needs a client; nothing is sent.
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .build();
    let client = Client::from_conf(config);
    let call = ingest::storage::table::create_table(&client, "messages", true);
    let keys = |schema: &[KeySchemaElement]| -> Vec<serde_json::Value> {
        schema
            .iter()
            .map(|k| json!({"AttributeName": k.attribute_name(), "KeyType": k.key_type().as_str()}))
            .collect()
    };
    let attributes: Vec<serde_json::Value> = call
        .get_attribute_definitions()
        .iter()
        .flatten()
        .map(|a| json!({"AttributeName": a.attribute_name(), "AttributeType": a.attribute_type().as_str()}))
        .collect();
    let indexes: Vec<serde_json::Value> = call
        .get_global_secondary_indexes()
        .iter()
        .flatten()
        .map(|index| {
            let projection = index.projection();
            let mut shown = json!({
                "ProjectionType": projection.and_then(|p| p.projection_type()).map(|t| t.as_str())
            });
            let non_key = projection.map(|p| p.non_key_attributes()).unwrap_or_default();
            if !non_key.is_empty() {
                shown["NonKeyAttributes"] = json!(non_key);
            }
            json!({"IndexName": index.index_name(), "KeySchema": keys(index.key_schema()), "Projection": shown})
        })
        .collect();
    let stream = call
        .get_stream_specification()
        .as_ref()
        .and_then(|s| s.stream_view_type())
        .map(|v| json!({"StreamViewType": v.as_str()}));
    json!({
        "KeySchema": keys(call.get_key_schema().as_deref().unwrap_or_default()),
        "AttributeDefinitions": attributes,
        "GlobalSecondaryIndexes": indexes,
        "StreamSpecification": stream,
    })
}
