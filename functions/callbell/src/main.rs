//! The `callbell` function: receives Callbell webhooks and stores their messages.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    ingest::lambda::run::<ingest::providers::Callbell>().await
}
