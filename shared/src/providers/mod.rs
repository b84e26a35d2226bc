//! One module per provider: its payload types and its mapping into the normalized message.

pub mod callbell;
pub mod partoo;
pub mod tiktok_shop;

use crate::error::Invalid;
use crate::inbound::Inbound;
use crate::message::{AttachmentKind, Provider};
use crate::verify::Verified;

/// Reads an authentic request for `provider`.
pub fn parse(provider: Provider, request: &Verified<'_>) -> Result<Inbound, Invalid> {
    if provider == Provider::Partoo && request.request().has_header(partoo::TRYOUT_HEADER) {
        return Ok(Inbound::Ignored("tryout"));
    }
    // Each provider reads its body with wire::parse_body, which refuses invalid UTF-8 anywhere.
    match provider {
        Provider::TiktokShop => tiktok_shop::parse(request.body()),
        Provider::Partoo => partoo::parse(request.body()),
        Provider::Callbell => callbell::parse(request.body()),
    }
}

/// The kind of a media file from its URL's path extension (query and fragment ignored).
pub fn attachment_kind_from_url(url: &str) -> AttachmentKind {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let file = path.rsplit('/').next().unwrap_or("");
    let extension = file
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" | "png" | "gif" | "webp" => AttachmentKind::Image,
        "mp4" | "3gp" | "mov" => AttachmentKind::Video,
        "ogg" | "oga" | "opus" | "mp3" | "m4a" | "aac" | "amr" => AttachmentKind::Audio,
        _ => AttachmentKind::Document,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_kinds_follow_the_contract_table() {
        let cases = [
            ("https://x/a.jpg", AttachmentKind::Image),
            ("https://x/a.JPEG", AttachmentKind::Image),
            ("https://x/a.png?x=1", AttachmentKind::Image),
            ("https://x/a.gif", AttachmentKind::Image),
            ("https://x/a.webp#f", AttachmentKind::Image),
            ("https://x/a.mp4", AttachmentKind::Video),
            ("https://x/a.3gp", AttachmentKind::Video),
            ("https://x/a.mov", AttachmentKind::Video),
            ("https://x/a.ogg", AttachmentKind::Audio),
            ("https://x/a.oga", AttachmentKind::Audio),
            ("https://x/a.opus", AttachmentKind::Audio),
            ("https://x/a.mp3", AttachmentKind::Audio),
            ("https://x/a.m4a", AttachmentKind::Audio),
            ("https://x/a.aac", AttachmentKind::Audio),
            ("https://x/a.amr", AttachmentKind::Audio),
            ("https://x/a.pdf", AttachmentKind::Document),
            ("https://x/download?file=a.png", AttachmentKind::Document),
            ("https://x.png/file", AttachmentKind::Document),
        ];
        for (url, kind) in cases {
            assert_eq!(attachment_kind_from_url(url), kind, "{url}");
        }
    }
}
