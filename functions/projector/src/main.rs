//! The `projector` function: keeps the conversation summaries from the table's stream.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    ingest::projector::run().await
}
