//! The `tiktok-shop` function: receives TiktokShop webhooks and stores their messages.

// The AWS SDK's futures nest deeper than rustc's default query depth allows for this main.
#![recursion_limit = "256"]

use ingest::store::{dynamodb_client, DynamoDbStore};
use ingest::{Handler, Provider, Settings};

const PROVIDER: Provider = Provider::TiktokShop;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    ingest::telemetry::init();
    let settings = Settings::from_env(PROVIDER);
    let table = settings
        .as_ref()
        .map(|s| s.table_name.clone())
        .unwrap_or_default();
    let store = DynamoDbStore::for_function(dynamodb_client(), table).await;
    ingest::lambda::serve(Handler::new(PROVIDER, settings, store)).await
}
