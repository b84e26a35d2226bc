//! `timeline`: every stored conversation, read the way the contract says readers read it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use ingest::storage::keys::{conversation_key, MESSAGE_PREFIX, QUARANTINE_PREFIX};
use ingest::ProviderId;

use crate::error::{aws, Context, Result};

type Item = HashMap<String, AttributeValue>;

const TEXT_WIDTH: usize = 80;

/// The keys found by one scan: conversations (pk of message items) and quarantine counts per
/// provider.
#[derive(Default)]
struct Keys {
    conversations: BTreeSet<String>,
    quarantine: BTreeMap<String, usize>,
}

async fn scan_keys(client: &Client, table: &str) -> Result<Keys> {
    let mut keys = Keys::default();
    let mut items = client
        .scan()
        .table_name(table)
        .projection_expression("#pk, #sk")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_names("#sk", "sk")
        .into_paginator()
        .items()
        .send();
    while let Some(item) = items.next().await {
        let item = item
            .map_err(aws)
            .with_context(|| format!("cannot scan table {table}"))?;
        let (Some(pk), Some(sk)) = (string(&item, "pk"), string(&item, "sk")) else {
            continue;
        };
        if let Some(provider) = pk.strip_prefix(QUARANTINE_PREFIX) {
            *keys.quarantine.entry(provider.to_owned()).or_default() += 1;
        } else if sk.starts_with(MESSAGE_PREFIX) {
            keys.conversations.insert(pk.to_owned());
        }
    }
    Ok(keys)
}

/// The contract's read: `pk = :pk AND begins_with(sk, "MSG#")`, in sort key order.
async fn query_conversation(client: &Client, table: &str, pk: &str) -> Result<Vec<Item>> {
    let mut pages = client
        .query()
        .table_name(table)
        .key_condition_expression("#pk = :pk AND begins_with(#sk, :msg)")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_names("#sk", "sk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
        .expression_attribute_values(":msg", AttributeValue::S(MESSAGE_PREFIX.to_owned()))
        .into_paginator()
        .items()
        .send();
    let mut items = Vec::new();
    while let Some(item) = pages.next().await {
        items.push(
            item.map_err(aws)
                .with_context(|| format!("cannot query conversation {pk} of table {table}"))?,
        );
    }
    Ok(items)
}

pub async fn print(client: &Client, table: &str, out: &mut impl Write) -> Result<()> {
    let keys = scan_keys(client, table).await?;
    let mut text = String::new();
    if keys.conversations.is_empty() {
        text.push_str(&format!("table {table}: no messages\n"));
    }
    let mut messages = 0;
    for pk in &keys.conversations {
        let items = query_conversation(client, table, pk).await?;
        messages += items.len();
        text.push_str(&format_conversation(pk, &items, Utc::now()));
    }
    if !keys.conversations.is_empty() {
        text.push_str(&format!(
            "\n{} conversations, {messages} messages\n",
            keys.conversations.len()
        ));
    }
    if !keys.quarantine.is_empty() {
        text.push_str(&format_quarantine(&keys.quarantine));
    }
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write the timeline")
}

fn format_quarantine(counts: &BTreeMap<String, usize>) -> String {
    let total: usize = counts.values().sum();
    let per_provider: Vec<String> = counts
        .iter()
        .map(|(provider, count)| format!("{provider}: {count}"))
        .collect();
    format!(
        "quarantine: {total} {} ({})\n",
        if total == 1 { "body" } else { "bodies" },
        per_provider.join(", ")
    )
}

fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn number<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_n().ok().map(String::as_str)
}

fn boolean(item: &Item, name: &str) -> Option<bool> {
    item.get(name)?.as_bool().ok().copied()
}

fn map<'a>(item: &'a Item, name: &str) -> Option<&'a Item> {
    item.get(name)?.as_m().ok()
}

/// The elements of a list attribute (none when absent or not a list).
fn list<'a>(item: &'a Item, name: &str) -> impl Iterator<Item = &'a AttributeValue> {
    item.get(name)
        .and_then(|value| value.as_l().ok())
        .into_iter()
        .flatten()
}

/// A conversation's header line and one line per message.
fn format_conversation(pk: &str, items: &[Item], now: DateTime<Utc>) -> String {
    let first = |name: &str| items.iter().find_map(|item| string(item, name));
    let (pk_provider, pk_conversation) = split_conversation_key(pk);
    let mut header = format!(
        "\n{} · conversation {}",
        first("provider").unwrap_or(pk_provider),
        first("conversation_id").unwrap_or(pk_conversation)
    );
    if let Some(channel) = first("channel") {
        header.push_str(&format!(" · channel {channel}"));
    }
    if let Some(name) = items
        .iter()
        .find_map(|item| map(item, "contact").and_then(|contact| string(contact, "name")))
    {
        header.push_str(&format!(" · contact {name}"));
    }
    if let Some(business) = items.iter().find_map(|item| map(item, "business")) {
        let name = string(business, "name")
            .or(string(business, "id"))
            .unwrap_or("?");
        match string(business, "city") {
            Some(city) => header.push_str(&format!(" · business {name} ({city})")),
            None => header.push_str(&format!(" · business {name}")),
        }
    }
    header.push_str(&format!(
        " · {} message{}\n",
        items.len(),
        if items.len() == 1 { "" } else { "s" }
    ));
    items.iter().fold(header, |mut text, item| {
        text.push_str(&format_message(item, now));
        text.push('\n');
        text
    })
}

/// The provider and conversation id a conversation's partition key
/// ([`conversation_key`]) is made of; the whole key and no id for any other.
fn split_conversation_key(pk: &str) -> (&str, &str) {
    ProviderId::ALL
        .iter()
        .find_map(|id| {
            let conversation = pk.strip_prefix(&conversation_key(*id, ""))?;
            Some((id.name(), conversation))
        })
        .unwrap_or((pk, ""))
}

fn format_message(item: &Item, now: DateTime<Utc>) -> String {
    let arrow = match string(item, "direction") {
        Some("inbound") => "→",
        Some("outbound") => "←",
        _ => "·",
    };
    let sender = map(item, "sender");
    let mut who = sender
        .and_then(|sender| string(sender, "role"))
        .unwrap_or("?")
        .to_owned();
    if let Some(name) = sender.and_then(|sender| string(sender, "name")) {
        who.push(' ');
        who.push_str(name);
    }
    let mut rest: Vec<String> = string(item, "text")
        .map(|text| truncate(text, TEXT_WIDTH))
        .into_iter()
        .collect();
    rest.extend(details(item, now));
    let line = format!(
        "  {:<24} {arrow} {:<26} {:<12} {}",
        string(item, "created_at").unwrap_or("(no time)"),
        truncate(&who, 26),
        string(item, "kind").unwrap_or("?"),
        rest.join("  "),
    );
    line.trim_end().to_owned()
}

/// Short summaries of attachments, buttons and lists, contact cards, location, references,
/// status and flags.
fn details(item: &Item, now: DateTime<Utc>) -> Vec<String> {
    let mut details = Vec::new();
    for attachment in list(item, "attachments").filter_map(|a| a.as_m().ok()) {
        details.push(format_attachment(attachment, now));
    }
    if let Some(interactive) = map(item, "interactive") {
        details.extend(format_interactive(interactive));
    }
    for card in list(item, "contact_cards").filter_map(|c| c.as_m().ok()) {
        details.push(format_contact_card(card));
    }
    if let Some(location) = map(item, "location") {
        details.push(format!(
            "[location {},{}]",
            number(location, "latitude").unwrap_or("?"),
            number(location, "longitude").unwrap_or("?")
        ));
    }
    if let Some(refs) = map(item, "refs") {
        let mut refs: Vec<String> = refs
            .iter()
            .filter_map(|(name, value)| Some(format!("{name}={}", value.as_s().ok()?)))
            .collect();
        refs.sort();
        if !refs.is_empty() {
            details.push(format!("[{}]", refs.join(" ")));
        }
    }
    if let Some(status) = string(item, "status") {
        details.push(format!("({status})"));
    }
    if boolean(item, "forwarded") == Some(true) {
        details.push("forwarded".to_owned());
    }
    if let Some(metadata) = string(item, "metadata") {
        details.push(format!("metadata {}", truncate(metadata, 40)));
    }
    if boolean(item, "visible") == Some(false) {
        details.push("hidden".to_owned());
    }
    if boolean(item, "automated") == Some(true) {
        details.push("automated".to_owned());
    }
    if boolean(item, "deleted") == Some(true) {
        details.push("DELETED".to_owned());
    }
    if string(item, "updated_at").is_some() {
        details.push("updated".to_owned());
    }
    details
}

/// `[buttons: Yes | No]` and `[options: Breakfast: Yogurt, Pancakes]`.
fn format_interactive(interactive: &Item) -> Vec<String> {
    let mut shown = Vec::new();
    let buttons: Vec<&str> = list(interactive, "buttons")
        .filter_map(|b| b.as_s().ok().map(String::as_str))
        .collect();
    if !buttons.is_empty() {
        shown.push(format!("[buttons: {}]", buttons.join(" | ")));
    }
    let mut sections: Vec<(Option<&str>, Vec<&str>)> = Vec::new();
    for option in list(interactive, "options").filter_map(|o| o.as_m().ok()) {
        let section = string(option, "section");
        let title = string(option, "title").unwrap_or("?");
        match sections.last_mut() {
            Some((last, titles)) if *last == section => titles.push(title),
            _ => sections.push((section, vec![title])),
        }
    }
    if !sections.is_empty() {
        let listed: Vec<String> = sections
            .iter()
            .map(|(section, titles)| match section {
                Some(section) => format!("{section}: {}", titles.join(", ")),
                None => titles.join(", "),
            })
            .collect();
        shown.push(format!("[options: {}]", listed.join("; ")));
    }
    shown
}

/// `[card João Pereira 5511955554444 (cell), 551133332222 (work)]`.
fn format_contact_card(card: &Item) -> String {
    let phones: Vec<String> = list(card, "phones")
        .filter_map(|p| p.as_m().ok())
        .filter_map(|phone| {
            let number = string(phone, "number")?;
            Some(match string(phone, "type") {
                Some(kind) => format!("{number} ({kind})"),
                None => number.to_owned(),
            })
        })
        .collect();
    let mut text = format!("[card {}", string(card, "name").unwrap_or("(no name)"));
    if !phones.is_empty() {
        text.push(' ');
        text.push_str(&phones.join(", "));
    }
    text.push(']');
    text
}

/// "expires in 41 h", "expired": when the provider's link stops working, seen from `now`.
fn expiry(expires_at: &str, now: DateTime<Utc>) -> String {
    let Ok(at) = DateTime::parse_from_rfc3339(expires_at) else {
        return format!("expires {expires_at}");
    };
    let left = at.with_timezone(&Utc) - now;
    if left <= chrono::Duration::zero() {
        "expired".to_owned()
    } else if left < chrono::Duration::hours(1) {
        format!("expires in {} min", left.num_minutes().max(1))
    } else if left < chrono::Duration::days(3) {
        format!("expires in {} h", left.num_hours())
    } else {
        format!("expires in {} days", left.num_days())
    }
}

fn format_attachment(attachment: &Item, now: DateTime<Utc>) -> String {
    let mut text = format!("[{}", string(attachment, "kind").unwrap_or("attachment"));
    if let (Some(width), Some(height)) = (number(attachment, "width"), number(attachment, "height"))
    {
        text.push_str(&format!(" {width}x{height}"));
    }
    if let Some(duration) = number(attachment, "duration_s") {
        text.push_str(&format!(" {duration}s"));
    }
    if let Some(url) = string(attachment, "url") {
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let file = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path);
        text.push(' ');
        text.push_str(&truncate(file, 32));
    }
    if let Some(name) = string(attachment, "file_name") {
        text.push_str(&format!(" \"{}\"", truncate(name, 32)));
    }
    if let Some(expires_at) = string(attachment, "expires_at") {
        text.push_str(", ");
        text.push_str(&expiry(expires_at, now));
    }
    text.push_str(" · ");
    text.push_str(&stored_summary(map(attachment, "stored")));
    text.push(']');
    text
}

/// Where the media function keeps the attachment's copy, or why there is none.
fn stored_summary(stored: Option<&Item>) -> String {
    let Some(stored) = stored else {
        return "no copy".to_owned();
    };
    if let Some(error) = string(stored, "error") {
        return format!("not copied: {error}");
    }
    let size = number(stored, "size_bytes")
        .and_then(|n| n.parse::<u64>().ok())
        .map_or_else(|| "?".to_owned(), human_size);
    let sha = string(stored, "sha256").unwrap_or("?");
    format!("copied {size} sha256:{}", sha.get(..8).unwrap_or(sha))
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

/// One line, at most `width` characters (an ellipsis marks a cut).
fn truncate(text: &str, width: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= width {
        flat
    } else {
        let mut cut: String = flat.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(value: &str) -> AttributeValue {
        AttributeValue::S(value.to_owned())
    }

    fn n(value: &str) -> AttributeValue {
        AttributeValue::N(value.to_owned())
    }

    fn m(entries: &[(&str, AttributeValue)]) -> AttributeValue {
        AttributeValue::M(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    fn item(entries: &[(&str, AttributeValue)]) -> Item {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn formats_a_conversation() {
        let inbound = item(&[
            ("provider", s("partoo")),
            ("conversation_id", s("42")),
            ("channel", s("whatsapp")),
            ("direction", s("inbound")),
            ("sender", m(&[("role", s("customer"))])),
            ("kind", s("image")),
            ("created_at", s("2025-11-20T09:14:03.512Z")),
            ("contact", m(&[("name", s("Camille Martin"))])),
            (
                "attachments",
                AttributeValue::L(vec![m(&[
                    ("kind", s("image")),
                    ("url", s("https://cdn.example.com/a/photo.jpg?sig=1")),
                    ("width", n("304")),
                    ("height", n("290")),
                ])]),
            ),
        ]);
        let outbound = item(&[
            ("direction", s("outbound")),
            ("sender", m(&[("role", s("agent")), ("name", s("Léa"))])),
            ("kind", s("text")),
            (
                "text",
                s(&format!("line one\nline two {}", "x".repeat(100))),
            ),
            ("created_at", s("2025-11-20T09:20:11.000Z")),
            ("status", s("success")),
            ("refs", m(&[("order_id", s("9")), ("product_id", s("7"))])),
            ("updated_at", s("2025-11-20T09:20:12.000Z")),
        ]);
        let system = item(&[
            ("direction", s("system")),
            ("sender", m(&[("role", s("system"))])),
            ("kind", s("location")),
            (
                "location",
                m(&[("latitude", n("-23.6")), ("longitude", n("-46.6"))]),
            ),
            ("visible", AttributeValue::Bool(false)),
            ("deleted", AttributeValue::Bool(true)),
        ]);
        let text = format_conversation("partoo#42", &[inbound, outbound, system], now());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "");
        assert_eq!(
            lines[1],
            "partoo · conversation 42 · channel whatsapp · contact Camille Martin · 3 messages"
        );
        assert!(lines[2].contains("2025-11-20T09:14:03.512Z → customer"));
        assert!(
            lines[2].ends_with(" image        [image 304x290 photo.jpg · no copy]"),
            "{}",
            lines[2]
        );
        assert!(lines[3].contains("← agent Léa"));
        assert!(lines[3].contains("line one line two xxx"));
        assert!(lines[3].contains("…  [order_id=9 product_id=7]  (success)  updated"));
        assert!(lines[4].contains("(no time)"));
        assert!(lines[4].contains("· system"));
        assert!(
            lines[4].ends_with("[location -23.6,-46.6]  hidden  DELETED"),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn attachments_show_their_copy_or_why_not() {
        let copied = m(&[
            ("kind", s("video")),
            ("url", s("http://media.localhost/callbell/clip.mp4")),
            (
                "stored",
                m(&[
                    ("key", s("media/callbell/c/m/0")),
                    ("sha256", s("0123456789abcdef")),
                    ("size_bytes", n("2097152")),
                ]),
            ),
        ]);
        let refused = m(&[
            ("kind", s("image")),
            ("url", s("https://cdn.example/a.jpg")),
            ("stored", m(&[("error", s("refused")), ("at", s("t"))])),
        ]);
        let line = format_message(
            &item(&[
                ("kind", s("video")),
                ("attachments", AttributeValue::L(vec![copied, refused])),
            ]),
            now(),
        );
        assert!(
            line.ends_with(
                "[video clip.mp4 · copied 2.0 MiB sha256:01234567]  [image a.jpg · not copied: refused]"
            ),
            "{line}"
        );
        assert_eq!(human_size(900), "900 B");
        assert_eq!(human_size(1536), "1.5 KiB");
    }

    #[test]
    fn header_falls_back_to_the_partition_key() {
        let text = format_conversation("callbell#abc", &[item(&[])], now());
        assert!(text.contains("callbell · conversation abc · 1 message\n"));
        assert!(text.contains("(no time)                · ?                          ?\n"));
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-11-25T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn shows_schema_2_content() {
        let attachment = |expires_at: &str| {
            m(&[
                ("kind", s("video")),
                ("url", s("https://v.example/x/clip.mp4?x-tos-expires=1")),
                ("file_name", s("clip.mp4")),
                ("expires_at", s(expires_at)),
            ])
        };
        let message = item(&[
            ("kind", s("interactive")),
            (
                "attachments",
                AttributeValue::L(vec![
                    attachment("2025-11-27T10:00:00.000Z"),
                    attachment("2025-11-25T16:59:00.000Z"),
                    attachment("2025-11-25T17:20:00.000Z"),
                ]),
            ),
            (
                "interactive",
                m(&[
                    ("buttons", AttributeValue::L(vec![s("Yes"), s("No")])),
                    (
                        "options",
                        AttributeValue::L(vec![
                            m(&[("title", s("Yogurt")), ("section", s("Breakfast"))]),
                            m(&[("title", s("Pancakes")), ("section", s("Breakfast"))]),
                            m(&[("title", s("Tea"))]),
                        ]),
                    ),
                ]),
            ),
            (
                "contact_cards",
                AttributeValue::L(vec![m(&[
                    ("name", s("João Pereira")),
                    (
                        "phones",
                        AttributeValue::L(vec![
                            m(&[("number", s("5511955554444")), ("type", s("cell"))]),
                            m(&[("number", s("551133332222"))]),
                        ]),
                    ),
                ])]),
            ),
            ("forwarded", AttributeValue::Bool(true)),
            (
                "business",
                m(&[("name", s("Boulangerie Léa")), ("city", s("Paris"))]),
            ),
        ]);
        let text = format_conversation("partoo#7", &[message], now());
        assert!(
            text.contains("· business Boulangerie Léa (Paris) ·"),
            "{text}"
        );
        for shown in [
            "[video clip.mp4 \"clip.mp4\", expires in 41 h · no copy]",
            "[video clip.mp4 \"clip.mp4\", expired · no copy]",
            "[video clip.mp4 \"clip.mp4\", expires in 20 min · no copy]",
            "[buttons: Yes | No]",
            "[options: Breakfast: Yogurt, Pancakes; Tea]",
            "[card João Pereira 5511955554444 (cell), 551133332222]",
            "forwarded",
        ] {
            assert!(text.contains(shown), "{shown} not in {text}");
        }
    }

    #[test]
    fn partition_keys_split_into_provider_and_conversation() {
        for id in ProviderId::ALL {
            let pk = conversation_key(*id, "c#1");
            assert_eq!(split_conversation_key(&pk), (id.name(), "c#1"), "{pk}");
        }
        assert_eq!(split_conversation_key("nobody#1"), ("nobody#1", ""));
    }

    #[test]
    fn reads_messages_whatever_form_their_raw_has() {
        let body = br#"{"type":14,"data":{"content":"{\"content\":\"hi\"}"}}"#;
        let message = |raw: AttributeValue| {
            item(&[
                ("kind", s("text")),
                ("text", s("hi")),
                ("created_at", s("2025-11-20T09:14:03.512Z")),
                ("direction", s("inbound")),
                ("raw", raw),
            ])
        };
        let schema_2 = message(s(std::str::from_utf8(body).unwrap()));
        let schema_3 = message(ingest::storage::raw::attribute(body));
        assert!(schema_3["raw"].as_b().is_ok(), "a gzip binary");
        let text = format_conversation("tiktok_shop#1", &[schema_2, schema_3], now());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[2].ends_with("text         hi"), "{text}");
        assert_eq!(lines[2], lines[3], "both forms read alike");
    }

    #[test]
    fn quarantine_summary() {
        let counts = BTreeMap::from([("partoo".to_owned(), 2), ("tiktok_shop".to_owned(), 1)]);
        assert_eq!(
            format_quarantine(&counts),
            "quarantine: 3 bodies (partoo: 2, tiktok_shop: 1)\n"
        );
    }

    #[test]
    fn truncates_on_characters() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo!", 5), "héll…");
        assert_eq!(truncate("a\tb", 5), "a b");
    }
}
