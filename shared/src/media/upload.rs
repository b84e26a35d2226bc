//! Streaming a fetched body into S3 while hashing it.
//!
//! A body that fits in one part is one PutObject. A larger one becomes a multipart upload: the
//! body is cut into parts of `part_size` bytes; while one part uploads, the next one fills, so
//! at most two parts are in memory and fetching overlaps uploading. The cap is checked on
//! every piece read, whatever the server announced; going over it, or any failure, aborts the
//! multipart upload, so nothing is left behind (the bucket's lifecycle rule also removes
//! uploads a killed process left incomplete).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::fetch::{FetchError, MediaResponse};

/// A copy in the bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyError {
    /// The body went over the cap: nothing was kept.
    TooLarge(u64),
    /// The fetch or the upload failed in a way that may pass: nothing was kept.
    Transient(String),
}

/// Where and how to write one object.
pub struct Target<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
    pub key: &'a str,
    pub content_type: &'a str,
    pub max_bytes: u64,
    pub part_size: usize,
    /// When the copy must be over (the invocation's deadline, less a margin).
    pub deadline: Instant,
}

/// An upload in parts: its id, the parts done, the one uploading.
struct Multipart {
    upload_id: String,
    done: Vec<CompletedPart>,
    uploading: Option<JoinHandle<Result<CompletedPart, String>>>,
}

/// Copies `response`'s body to `target`.
pub async fn copy(target: &Target<'_>, response: &mut MediaResponse) -> Result<Copied, CopyError> {
    let mut multipart: Option<Multipart> = None;
    let result = copy_body(target, response, &mut multipart).await;
    if result.is_err() {
        if let Some(upload) = multipart.take() {
            abort(target, upload).await;
        }
    }
    result
}

async fn copy_body(
    target: &Target<'_>,
    response: &mut MediaResponse,
    multipart: &mut Option<Multipart>,
) -> Result<Copied, CopyError> {
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let first_capacity = response
        .content_length
        .map_or(target.part_size, |l| (l as usize).min(target.part_size));
    let mut buffer = BytesMut::with_capacity(first_capacity);
    loop {
        let piece = tokio::time::timeout_at(target.deadline, response.chunk())
            .await
            .map_err(|_| CopyError::Transient("the copy ran out of time".into()))?;
        let mut piece = match piece {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(FetchError::TooLarge(n)) => return Err(CopyError::TooLarge(n)),
            Err(e) => return Err(CopyError::Transient(e.to_string())),
        };
        size += piece.len() as u64;
        if size > target.max_bytes {
            return Err(CopyError::TooLarge(size));
        }
        hasher.update(&piece);
        while !piece.is_empty() {
            let room = target.part_size - buffer.len();
            let take = room.min(piece.len());
            buffer.extend_from_slice(&piece.split_to(take));
            if buffer.len() == target.part_size {
                let full =
                    std::mem::replace(&mut buffer, BytesMut::with_capacity(target.part_size));
                start_part(target, multipart, full.freeze()).await?;
            }
        }
    }
    let sha256 = hex::encode(hasher.finalize());
    if multipart.is_none() {
        put(target, buffer.freeze()).await?;
    } else {
        if !buffer.is_empty() {
            start_part(target, multipart, buffer.freeze()).await?;
        }
        complete(target, multipart.as_mut().expect("checked above")).await?;
        // Completed: nothing to abort any more.
        *multipart = None;
    }
    Ok(Copied { sha256, size })
}

async fn put(target: &Target<'_>, body: Bytes) -> Result<(), CopyError> {
    let length = body.len() as i64;
    target
        .client
        .put_object()
        .bucket(target.bucket)
        .key(target.key)
        .content_type(target.content_type)
        .content_length(length)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(crate::aws::failed("S3 PutObject", "S3"))
        .map_err(CopyError::Transient)?;
    Ok(())
}

/// Starts uploading `part` (creating the upload first if needed), after the part before it
/// has finished.
async fn start_part(
    target: &Target<'_>,
    multipart: &mut Option<Multipart>,
    part: Bytes,
) -> Result<(), CopyError> {
    if multipart.is_none() {
        let created = target
            .client
            .create_multipart_upload()
            .bucket(target.bucket)
            .key(target.key)
            .content_type(target.content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(crate::aws::failed("S3 CreateMultipartUpload", "S3"))
            .map_err(CopyError::Transient)?;
        let upload_id = created
            .upload_id
            .ok_or_else(|| CopyError::Transient("S3 gave no upload id".into()))?;
        *multipart = Some(Multipart {
            upload_id,
            done: Vec::new(),
            uploading: None,
        });
    }
    let upload = multipart.as_mut().expect("created above");
    finish_uploading(upload).await?;
    let number = upload.done.len() as i32 + 1;
    let client = target.client.clone();
    let (bucket, key, upload_id) = (
        target.bucket.to_string(),
        target.key.to_string(),
        upload.upload_id.clone(),
    );
    upload.uploading = Some(tokio::spawn(async move {
        let length = part.len() as i64;
        let output = client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .content_length(length)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(crate::aws::failed(format!("S3 UploadPart {number}"), "S3"))?;
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(output.e_tag)
            .set_checksum_crc32(output.checksum_crc32)
            .build())
    }));
    Ok(())
}

/// Waits for the part being uploaded, if any, and records it.
async fn finish_uploading(upload: &mut Multipart) -> Result<(), CopyError> {
    if let Some(handle) = upload.uploading.take() {
        let part = handle
            .await
            .map_err(|e| CopyError::Transient(format!("part upload stopped: {e}")))?
            .map_err(CopyError::Transient)?;
        upload.done.push(part);
    }
    Ok(())
}

async fn complete(target: &Target<'_>, upload: &mut Multipart) -> Result<(), CopyError> {
    finish_uploading(upload).await?;
    target
        .client
        .complete_multipart_upload()
        .bucket(target.bucket)
        .key(target.key)
        .upload_id(&upload.upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(upload.done.clone()))
                .build(),
        )
        .send()
        .await
        .map_err(crate::aws::failed("S3 CompleteMultipartUpload", "S3"))
        .map_err(CopyError::Transient)?;
    Ok(())
}

/// Aborts an upload after its part in flight (if any) has ended, so that no part outlives it.
async fn abort(target: &Target<'_>, mut upload: Multipart) {
    if let Some(handle) = upload.uploading.take() {
        let _ = handle.await;
    }
    let aborted = target
        .client
        .abort_multipart_upload()
        .bucket(target.bucket)
        .key(target.key)
        .upload_id(&upload.upload_id)
        .send()
        .await;
    if let Err(e) = aborted {
        tracing::warn!(
            key = target.key,
            error = %crate::aws::error_text(&e, "S3"),
            "could not abort a multipart upload; the bucket's lifecycle rule will remove it"
        );
    }
}
