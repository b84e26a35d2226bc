//! The `media` function: copies attachments to S3 from the table's stream.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    ingest::media::run().await
}
