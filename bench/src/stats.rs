//! The statistics the drivers print: medians and spreads of samples, in milliseconds.

/// The `q` quantile (0 ≤ q ≤ 1) of `samples`, by nearest rank; `None` when there are none.
pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[rank])
}

/// "median (p10–p90)" of samples in milliseconds, or "-" when there are none.
pub fn summary_ms(samples: &[f64]) -> String {
    match (
        quantile(samples, 0.5),
        quantile(samples, 0.1),
        quantile(samples, 0.9),
    ) {
        (Some(m), Some(lo), Some(hi)) => format!("{m:8.2}  ({lo:.2}–{hi:.2})"),
        _ => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let s = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quantile(&s, 0.5), Some(3.0));
        assert_eq!(quantile(&s, 0.0), Some(1.0));
        assert_eq!(quantile(&s, 1.0), Some(5.0));
        assert_eq!(quantile(&s, 0.1), Some(1.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(summary_ms(&[]), "-");
    }
}
