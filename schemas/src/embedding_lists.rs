//! The coarse quantiser that files each stored embedding into one of a few hundred lists
//! (an inverted-file index, "IVF"), so that a search by meaning reads only the lists nearest
//! to its query instead of every row of its range.
//!
//! - The lists are the cells of spherical k-means centroids, trained once on a corpus of
//!   customer messages ([`train`]; `rtcx-model embedding-lists`) and shipped beside the model's
//!   heads as [`FILE`].
//! - The processors store each row's list in `feedback.embedding_list` (1-based; [`UNFILED`]
//!   when there is no embedding or no quantiser). ClickHouse keeps a projection of the feedback
//!   ordered by that column (migration 0011), so the rows of one list lie together.
//! - `GET /v1/feedback/similar` compares the query with the rows of its [`EmbeddingLists::probes`]
//!   nearest lists and of list 0 (rows filed by nobody are always searched).
//!
//! Centroids are kept in the rows' own stored form (int8, [`crate::embedding::quantise`]), so a
//! file reads back to exactly the quantiser that wrote it, on every machine.

use crate::embedding::{dequantise, quantise};

/// The quantiser's file name inside the heads folder.
pub const FILE: &str = "embedding-lists.bin";
/// The list of a row filed by no quantiser (no embedding, or none loaded when it was stored).
pub const UNFILED: u16 = 0;
/// Most lists a quantiser may have (list numbers are `UInt16`, 0 is reserved).
pub const MAX_LISTS: usize = 4_096;

const MAGIC: &[u8; 8] = b"RTCXLST1";

/// Why a quantiser cannot be built or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListsError {
    #[error("not an rtcx embedding-lists file (bad magic or truncated header)")]
    NotAListsFile,
    #[error("the file holds {found} bytes of centroids, {lists} lists × {dim} values need {expected}")]
    Truncated { lists: usize, dim: usize, expected: usize, found: usize },
    #[error("{0} lists: between 1 and {MAX_LISTS}")]
    Lists(usize),
    #[error("centroid {0} has no direction (empty, zero or not a number) or another length")]
    Centroid(usize),
    #[error("{path}: {error}")]
    Io { path: String, error: String },
    #[error("k-means needs at least as many vectors ({vectors}) as lists ({lists}), all of one length")]
    TooFewVectors { vectors: usize, lists: usize },
}

/// A trained coarse quantiser: `lists` unit centroids of `dim` values.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingLists {
    dim: usize,
    /// The stored (int8) centroids, list `i + 1` at `i`.
    stored: Vec<Vec<i8>>,
    /// The same, as unit vectors, row after row (`lists × dim`).
    unit: Vec<f32>,
}

impl EmbeddingLists {
    /// A quantiser with these centroids (any length; each is stored as its direction).
    pub fn from_centroids(centroids: &[Vec<f32>]) -> Result<Self, ListsError> {
        let stored: Vec<Vec<i8>> = centroids.iter().map(|c| quantise(c)).collect();
        Self::from_stored(stored)
    }

    fn from_stored(stored: Vec<Vec<i8>>) -> Result<Self, ListsError> {
        if stored.is_empty() || stored.len() > MAX_LISTS {
            return Err(ListsError::Lists(stored.len()));
        }
        let dim = stored[0].len();
        let mut unit = Vec::with_capacity(stored.len() * dim);
        for (i, c) in stored.iter().enumerate() {
            let u = dequantise(c);
            if u.len() != dim || dim == 0 {
                return Err(ListsError::Centroid(i));
            }
            unit.extend(u);
        }
        Ok(Self { dim, stored, unit })
    }

    /// Number of lists.
    pub fn lists(&self) -> usize {
        self.stored.len()
    }

    /// Length of the embeddings it files.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The unit centroid of list `list` (1-based); empty for a list it does not have.
    pub fn centroid(&self, list: u16) -> &[f32] {
        let i = usize::from(list);
        if i == 0 || i > self.lists() {
            return &[];
        }
        &self.unit[(i - 1) * self.dim..i * self.dim]
    }

    /// The file's bytes: magic, dimension and list count (u32, little-endian), then the int8
    /// centroids one after the other.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.lists() * self.dim);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.lists() as u32).to_le_bytes());
        for c in &self.stored {
            out.extend(c.iter().map(|&x| x as u8));
        }
        out
    }

    /// Reads [`Self::to_bytes`]'s form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ListsError> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(ListsError::NotAListsFile);
        }
        let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let (dim, lists) = (word(8), word(12));
        if lists == 0 || lists > MAX_LISTS {
            return Err(ListsError::Lists(lists));
        }
        let body = &bytes[16..];
        let expected = lists.saturating_mul(dim);
        if dim == 0 || body.len() != expected {
            return Err(ListsError::Truncated { lists, dim, expected, found: body.len() });
        }
        Self::from_stored(body.chunks(dim).map(|c| c.iter().map(|&b| b as i8).collect()).collect())
    }

    /// The quantiser in `heads_dir` ([`FILE`]); `None` when the folder has none (rows are then
    /// stored unfiled and searched exactly).
    pub fn read_beside(heads_dir: &std::path::Path) -> Result<Option<Self>, ListsError> {
        let path = heads_dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_bytes(&bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ListsError::Io { path: path.display().to_string(), error: e.to_string() }),
        }
    }

    /// Cosine of `v` (unit) with every centroid, list 1 first.
    fn scores(&self, v: &[f32]) -> Vec<f32> {
        self.unit.chunks(self.dim).map(|c| c.iter().zip(v).map(|(a, b)| a * b).sum()).collect()
    }

    /// The list a stored embedding belongs to (its nearest centroid by cosine, 1-based), or
    /// [`UNFILED`] for an empty embedding or one of another length.
    pub fn file(&self, embedding: &[i8]) -> u16 {
        self.probes(embedding, 1).first().copied().unwrap_or(UNFILED)
    }

    /// The `n` lists nearest to a stored embedding, nearest first (ties by list number); empty
    /// for an embedding it cannot file.
    pub fn probes(&self, embedding: &[i8], n: usize) -> Vec<u16> {
        let v = dequantise(embedding);
        if v.len() != self.dim {
            return Vec::new();
        }
        let scores = self.scores(&v);
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
        order.into_iter().take(n).map(|i| (i + 1) as u16).collect()
    }
}

/// Spherical k-means on unit vectors (cosine): `lists` centroids, k-means++ seeding from a
/// reproducible generator, then `iterations` rounds of assignment and re-centring. A list left
/// empty is re-seeded with the vector farthest from its own centroid.
pub fn train(vectors: &[Vec<f32>], lists: usize, iterations: usize, seed: u64) -> Result<EmbeddingLists, ListsError> {
    if lists == 0 || lists > MAX_LISTS {
        return Err(ListsError::Lists(lists));
    }
    let dim = vectors.first().map_or(0, Vec::len);
    if vectors.len() < lists || dim == 0 || vectors.iter().any(|v| v.len() != dim) {
        return Err(ListsError::TooFewVectors { vectors: vectors.len(), lists });
    }
    let unit: Vec<Vec<f32>> = vectors.iter().map(|v| normalised(v)).collect();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    // k-means++: each next centroid drawn with probability ∝ its distance to the nearest one.
    let mut centroids: Vec<Vec<f32>> = vec![unit[(next() * unit.len() as f64) as usize % unit.len()].clone()];
    let mut nearest: Vec<f32> = unit.iter().map(|v| 1.0 - dot(v, &centroids[0])).collect();
    while centroids.len() < lists {
        let total: f64 = nearest.iter().map(|&d| f64::from(d.max(0.0))).sum();
        let mut target = next() * total;
        let mut pick = unit.len() - 1;
        for (i, &d) in nearest.iter().enumerate() {
            target -= f64::from(d.max(0.0));
            if target <= 0.0 {
                pick = i;
                break;
            }
        }
        let c = unit[pick].clone();
        for (n, v) in nearest.iter_mut().zip(&unit) {
            *n = n.min(1.0 - dot(v, &c));
        }
        centroids.push(c);
    }
    let mut assigned = vec![0usize; unit.len()];
    for _ in 0..iterations {
        let mut sims = vec![0f32; unit.len()];
        for (i, v) in unit.iter().enumerate() {
            let (best, sim) = centroids
                .iter()
                .enumerate()
                .map(|(j, c)| (j, dot(v, c)))
                .fold((0, f32::MIN), |acc, x| if x.1 > acc.1 { x } else { acc });
            assigned[i] = best;
            sims[i] = sim;
        }
        let mut sums = vec![vec![0f32; dim]; lists];
        let mut counts = vec![0usize; lists];
        for (v, &a) in unit.iter().zip(&assigned) {
            counts[a] += 1;
            sums[a].iter_mut().zip(v).for_each(|(s, x)| *s += x);
        }
        for j in 0..lists {
            if counts[j] == 0 {
                // The worst-served vector founds the empty list.
                let far = (0..unit.len()).min_by(|&a, &b| sims[a].total_cmp(&sims[b])).unwrap_or(0);
                sims[far] = 1.0;
                centroids[j] = unit[far].clone();
            } else {
                centroids[j] = normalised(&sums[j]);
            }
        }
    }
    EmbeddingLists::from_centroids(&centroids)
}

fn normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n == 0.0 { v.to_vec() } else { v.iter().map(|x| x / n).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points around `k` well-separated directions of `dim` values.
    fn blobs(k: usize, per: usize, dim: usize) -> Vec<(usize, Vec<f32>)> {
        let mut s: u64 = 0x1234_5678_9ABC_DEF1;
        let mut r = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut out = Vec::new();
        for c in 0..k {
            for _ in 0..per {
                let v: Vec<f32> = (0..dim).map(|i| if i == c { 3.0 } else { 0.0 } + 0.3 * r()).collect();
                out.push((c, v));
            }
        }
        out
    }

    #[test]
    fn k_means_finds_separated_groups_and_files_each_whole() {
        let points = blobs(6, 40, 16);
        let vectors: Vec<Vec<f32>> = points.iter().map(|p| p.1.clone()).collect();
        let lists = train(&vectors, 6, 10, 42).expect("train");
        assert_eq!((lists.lists(), lists.dim()), (6, 16));
        // Every group lands in one list of its own.
        let mut list_of_group = std::collections::HashMap::new();
        for (group, v) in &points {
            let l = lists.file(&quantise(v));
            assert!((1..=6).contains(&l), "{l}");
            assert_eq!(*list_of_group.entry(*group).or_insert(l), l, "group {group} split");
        }
        let distinct: std::collections::HashSet<_> = list_of_group.values().collect();
        assert_eq!(distinct.len(), 6);
    }

    #[test]
    fn probes_are_the_nearest_lists_in_order() {
        let centroids: Vec<Vec<f32>> =
            (0..4).map(|i| (0..4).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect();
        let lists = EmbeddingLists::from_centroids(&centroids).expect("lists");
        let q = quantise(&[0.1, 0.9, 0.5, -0.2]);
        assert_eq!(lists.probes(&q, 3), vec![2, 3, 1]);
        assert_eq!(lists.probes(&q, 10), vec![2, 3, 1, 4]);
        assert_eq!(lists.file(&q), 2);
        // Nothing to file: no embedding, or another model's length.
        assert_eq!(lists.file(&[]), UNFILED);
        assert_eq!(lists.file(&quantise(&[1.0, 0.0])), UNFILED);
        assert!(lists.probes(&[], 3).is_empty());
    }

    #[test]
    fn the_file_reads_back_to_the_same_quantiser() {
        let vectors: Vec<Vec<f32>> = blobs(5, 10, 8).into_iter().map(|p| p.1).collect();
        let lists = train(&vectors, 5, 5, 7).expect("train");
        let bytes = lists.to_bytes();
        assert_eq!(bytes.len(), 16 + 5 * 8);
        assert_eq!(EmbeddingLists::from_bytes(&bytes), Ok(lists));
        assert_eq!(EmbeddingLists::from_bytes(b"RTCXLST0\0\0\0\0\0\0\0\0"), Err(ListsError::NotAListsFile));
        assert!(matches!(EmbeddingLists::from_bytes(&bytes[..bytes.len() - 1]), Err(ListsError::Truncated { .. })));
        let mut zero = bytes.clone();
        zero[12..16].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(EmbeddingLists::from_bytes(&zero), Err(ListsError::Lists(0)));
    }

    #[test]
    fn training_refuses_what_it_cannot_do() {
        assert_eq!(train(&[vec![1.0, 0.0]], 2, 3, 1), Err(ListsError::TooFewVectors { vectors: 1, lists: 2 }));
        assert_eq!(
            train(&[vec![1.0], vec![1.0, 0.0]], 1, 3, 1),
            Err(ListsError::TooFewVectors { vectors: 2, lists: 1 })
        );
        assert_eq!(train(&[vec![1.0]], 0, 3, 1), Err(ListsError::Lists(0)));
    }
}
