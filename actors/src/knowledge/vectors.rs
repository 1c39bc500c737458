//! Passage vectors: stored as little-endian `f32`s, ranked by cosine similarity to
//! the question's. Every vector of a tenant's model is compared (the knowledge base is
//! capped by `ai.knowledge_max_documents`), which needs no index of its own on either
//! store.

use crate::PassageId;

/// The widest vector kept: larger ones (or empty ones) are a provider's mistake.
pub const MAX_DIMENSIONS: usize = 8_192;

pub fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// None for bytes that are not a whole number of `f32`s.
pub fn decode(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// Whether a provider's vector can be kept: 1 to `MAX_DIMENSIONS` finite numbers, not
/// all zero (a zero vector has no direction to compare).
pub fn usable(vector: &[f32]) -> bool {
    (1..=MAX_DIMENSIONS).contains(&vector.len())
        && vector.iter().all(|x| x.is_finite())
        && vector.iter().any(|x| *x != 0.0)
}

/// From -1 to 1; 0 for vectors of different lengths (another model's).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    (dot / (aa.sqrt() * bb.sqrt())) as f32
}

/// The `limit` passages nearest to `query`, nearest first (ties in the order given).
pub fn nearest(query: &[f32], vectors: &[(PassageId, Vec<f32>)], limit: usize) -> Vec<PassageId> {
    let mut scored: Vec<(f32, usize)> = vectors
        .iter()
        .enumerate()
        .map(|(at, (_, v))| (cosine(query, v), at))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, at)| vectors[at].0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vector_survives_its_bytes() {
        let v = vec![0.25, -1.5, 3.0e-7, f32::MAX];
        assert_eq!(decode(&encode(&v)).unwrap(), v);
        assert_eq!(decode(&[1, 2, 3]), None);
    }

    #[test]
    fn cosine_is_one_for_the_same_direction_and_zero_across_models() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 0.0], &[1.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn the_nearest_come_first() {
        let (a, b, c) = (PassageId::new(), PassageId::new(), PassageId::new());
        let vectors = vec![
            (a, vec![0.0, 1.0]),
            (b, vec![1.0, 0.1]),
            (c, vec![0.7, 0.7]),
        ];
        assert_eq!(nearest(&[1.0, 0.0], &vectors, 2), vec![b, c]);
    }

    #[test]
    fn empty_zero_and_unbounded_vectors_are_not_usable() {
        assert!(usable(&[0.1, 0.0]));
        assert!(!usable(&[]));
        assert!(!usable(&[0.0, 0.0]));
        assert!(!usable(&[f32::NAN, 1.0]));
        assert!(!usable(&vec![1.0; MAX_DIMENSIONS + 1]));
    }
}
