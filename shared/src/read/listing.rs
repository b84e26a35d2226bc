//! One page of the conversation list, from the `by_activity` index's shards.
//!
//! Each shard is read newest first below the cursor's boundary, `limit` index entries at most
//! (filters apply after the limit, as DynamoDB's do, so a shard may answer fewer or none). The
//! page can only hold entries above every unfinished shard's last evaluated key — below it,
//! that shard has not been read yet — so the boundary is the greatest of those keys, and the
//! page is the matching entries at or above it, newest first, at most `limit` of them. The next
//! page continues below the boundary (or below the page's last entry, when the page was cut at
//! `limit`), so over the pages every entry comes once, in order: no gaps, no repeats.

/// What one shard's query answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardPage<E> {
    /// The entries that passed the filters, each with its `activity_key`, newest first.
    pub entries: Vec<(String, E)>,
    /// The `activity_key` of the last entry the query evaluated, when it stopped at its limit
    /// (DynamoDB's LastEvaluatedKey); `None` when the shard has nothing more below.
    pub last_evaluated: Option<String>,
}

/// A page of entries, newest first, and where the next page starts (`None`: the end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<E> {
    pub entries: Vec<(String, E)>,
    /// The next page holds entries whose `activity_key` is below this.
    pub next_before: Option<String>,
}

pub fn merge_shards<E>(shards: Vec<ShardPage<E>>, limit: usize) -> Page<E> {
    let boundary = shards.iter().filter_map(|s| s.last_evaluated.clone()).max();
    let mut entries: Vec<(String, E)> = shards
        .into_iter()
        .flat_map(|s| s.entries)
        .filter(|(key, _)| boundary.as_ref().is_none_or(|b| key >= b))
        .collect();
    entries.sort_by(|a, b| b.0.cmp(&a.0));
    if entries.len() > limit {
        entries.truncate(limit);
        let next_before = entries.last().map(|(key, _)| key.clone());
        return Page {
            entries,
            next_before,
        };
    }
    Page {
        entries,
        next_before: boundary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard of an index, read as DynamoDB would: below `before`, newest first, evaluating at
    /// most `limit` entries and keeping those that pass `keep`.
    fn query(
        shard: &[u32],
        before: Option<&str>,
        limit: usize,
        keep: fn(u32) -> bool,
    ) -> ShardPage<u32> {
        let mut below: Vec<u32> = shard
            .iter()
            .copied()
            .filter(|n| before.is_none_or(|b| key(*n).as_str() < b))
            .collect();
        below.sort_by(|a, b| b.cmp(a));
        let evaluated: Vec<u32> = below.iter().copied().take(limit).collect();
        ShardPage {
            entries: evaluated
                .iter()
                .filter(|n| keep(**n))
                .map(|n| (key(*n), *n))
                .collect(),
            last_evaluated: (below.len() > limit).then(|| key(*evaluated.last().unwrap())),
        }
    }

    fn key(n: u32) -> String {
        format!("{n:06}")
    }

    fn walk(shards: &[Vec<u32>], limit: usize, keep: fn(u32) -> bool) -> (Vec<u32>, usize) {
        let mut seen = Vec::new();
        let mut before: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = merge_shards(
                shards
                    .iter()
                    .map(|s| query(s, before.as_deref(), limit, keep))
                    .collect(),
                limit,
            );
            pages += 1;
            assert!(page.entries.len() <= limit);
            seen.extend(page.entries.iter().map(|(_, n)| *n));
            match page.next_before {
                Some(next) => {
                    assert!(before.as_ref().is_none_or(|b| next < *b), "progress");
                    before = Some(next);
                }
                None => return (seen, pages),
            }
        }
    }

    #[test]
    fn every_entry_once_in_order_whatever_the_limit_and_filter() {
        // 16 shards, entries spread unevenly (some shards empty, one holding most).
        let mut shards: Vec<Vec<u32>> = vec![Vec::new(); 16];
        for n in 0..500u32 {
            let shard = if n % 7 == 0 {
                3
            } else {
                (n.wrapping_mul(2_654_435_761) >> 28) as usize % 13
            };
            shards[shard].push(n);
        }
        let filters: [fn(u32) -> bool; 3] = [|_| true, |n| n % 3 == 0, |n| n == 123];
        for keep in filters {
            let mut expected: Vec<u32> = (0..500).filter(|n| keep(*n)).collect();
            expected.reverse();
            for limit in [1, 7, 25, 100] {
                let (seen, _) = walk(&shards, limit, keep);
                assert_eq!(seen, expected, "limit {limit}");
            }
        }
    }

    #[test]
    fn an_empty_index_is_one_empty_last_page() {
        let (seen, pages) = walk(&vec![Vec::new(); 16], 25, |_| true);
        assert!(seen.is_empty());
        assert_eq!(pages, 1);
    }
}
