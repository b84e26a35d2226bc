//! The `inbox` function: the read API over the messages table.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    ingest::inbox::run().await
}
