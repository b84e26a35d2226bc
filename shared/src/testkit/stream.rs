//! The table's stream as Lambda delivers it to its readers, the media function and the projector
//! (feature `testkit-stream`): read from DynamoDB Local with the streams API and turned into the
//! records of a DynamoDB event, `{"Records": [...]}`. The media and projector tests and
//! `ingest-dev follow-stream` use it.
//!
//! DynamoDB Local (docs/LOCAL_AWS.md): the stream ARN's region is `ddblocal` whatever the
//! client's, so the client is built for the caller's endpoint and region, never from the ARN;
//! GetRecords at the end of an open shard returns an empty page and a next iterator, so a read
//! stops on an empty page and keeps the iterator for the next one.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use serde_json::{json, Map, Value};

use crate::aws::failed;

/// A streams client for the same endpoint, region and CA bundle as a function's DynamoDB client
/// (DynamoDB Local's streams answer on its endpoint), with the SDK's default time limits.
pub fn streams_client() -> Client {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Region};
    let aws = crate::config::AwsConfig::from_env();
    let mut config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(
            aws.region.clone().unwrap_or_else(|| "us-east-1".into()),
        ))
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(aws.https_client());
    if let Some(url) = &aws.dynamodb_endpoint {
        config = config.endpoint_url(url);
    }
    Client::from_conf(config.build())
}

/// Reads a stream's records in order, shard by shard, remembering where it stopped.
pub struct StreamReader {
    client: Client,
    arn: String,
    /// Shard id → the iterator to read on from (`None` once a closed shard is done).
    shards: HashMap<String, Option<String>>,
    order: Vec<String>,
}

impl StreamReader {
    pub fn new(client: Client, arn: impl Into<String>) -> Self {
        StreamReader {
            client,
            arn: arn.into(),
            shards: HashMap::new(),
            order: Vec::new(),
        }
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Every record written since the last read (from the stream's start the first time), as
    /// Lambda event records.
    pub async fn read_new(&mut self) -> Result<Vec<Value>, String> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .map_err(failed("DescribeStream", "the stream"))?;
        let shards = described
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            if self.shards.contains_key(&id) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(failed("GetShardIterator", "the stream"))?
                .shard_iterator;
            self.shards.insert(id.clone(), iterator);
            self.order.push(id);
        }
        let mut records = Vec::new();
        for id in self.order.clone() {
            while let Some(iterator) = self.shards.get(&id).cloned().flatten() {
                let page = self
                    .client
                    .get_records()
                    .shard_iterator(iterator)
                    .send()
                    .await
                    .map_err(failed("GetRecords", "the stream"))?;
                let got = page.records.unwrap_or_default();
                self.shards.insert(id.clone(), page.next_shard_iterator);
                if got.is_empty() {
                    break;
                }
                records.extend(got.iter().map(|r| lambda_record(r, &self.arn)));
            }
        }
        Ok(records)
    }
}

/// The latest stream ARN of a table, if it has a stream.
pub async fn stream_arn(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Option<String>, String> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(failed(format!("DescribeTable {table}"), "the table"))?;
    Ok(described.table.and_then(|t| t.latest_stream_arn))
}

/// A stream record as Lambda puts it in a DynamoDB event.
pub fn lambda_record(record: &Record, arn: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(data) = &record.dynamodb {
        if let Some(at) = data.approximate_creation_date_time {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(at.secs()));
        }
        if let Some(keys) = &data.keys {
            dynamodb.insert("Keys".into(), image(keys));
        }
        if let Some(new) = &data.new_image {
            dynamodb.insert("NewImage".into(), image(new));
        }
        if let Some(old) = &data.old_image {
            dynamodb.insert("OldImage".into(), image(old));
        }
        if let Some(seq) = &data.sequence_number {
            dynamodb.insert("SequenceNumber".into(), json!(seq));
        }
        if let Some(size) = data.size_bytes {
            dynamodb.insert("SizeBytes".into(), json!(size));
        }
        if let Some(view) = &data.stream_view_type {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
    }
    json!({
        "eventID": record.event_id,
        "eventName": record.event_name.as_ref().map(|n| n.as_str()),
        "eventVersion": record.event_version,
        "eventSource": record.event_source,
        "awsRegion": record.aws_region,
        "dynamodb": dynamodb,
        "eventSourceARN": arn,
    })
}

/// The DynamoDB event of a batch of records.
pub fn event(records: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "Records": records })).expect("JSON values serialize")
}

fn image(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), dynamodb_json(v)))
            .collect(),
    )
}

/// An attribute value in DynamoDB JSON, as stream events carry it.
pub fn dynamodb_json(value: &AttributeValue) -> Value {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => {
            json!({ "BS": v.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::M(m) => json!({ "M": image(m) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(dynamodb_json).collect::<Vec<_>>() }),
        _ => json!({ "NULL": true }),
    }
}
