//! Count statistics of the detectors: tail probabilities under Poisson / negative-binomial
//! and beta-binomial models, the over-dispersion of a count series, and the
//! Benjamini–Hochberg procedure across the series evaluated in one tick.

use statrs::distribution::{DiscreteCDF, NegativeBinomial, Poisson};
use statrs::function::gamma::ln_gamma;

/// Smallest probability reported (scores are `-log10(p)`, capped at 300).
pub const P_FLOOR: f64 = 1e-300;

/// `P(X >= x)` for a count with mean `mean` and over-dispersion `phi` (variance
/// `mean + phi * mean²`; 0 is Poisson).
pub fn upper_tail(x: u64, mean: f64, phi: f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if mean <= 0.0 {
        return P_FLOOR;
    }
    let p = if phi <= 1e-9 {
        Poisson::new(mean).map(|d| d.sf(x - 1)).unwrap_or(1.0)
    } else {
        // NB with r = 1/phi successes: mean = r(1-p)/p.
        let r = 1.0 / phi;
        NegativeBinomial::new(r, r / (r + mean)).map(|d| d.sf(x - 1)).unwrap_or(1.0)
    };
    p.clamp(P_FLOOR, 1.0)
}

/// `P(X <= x)` under the same model.
pub fn lower_tail(x: u64, mean: f64, phi: f64) -> f64 {
    if mean <= 0.0 {
        return 1.0;
    }
    let p = if phi <= 1e-9 {
        Poisson::new(mean).map(|d| d.cdf(x)).unwrap_or(1.0)
    } else {
        let r = 1.0 / phi;
        NegativeBinomial::new(r, r / (r + mean)).map(|d| d.cdf(x)).unwrap_or(1.0)
    };
    p.clamp(P_FLOOR, 1.0)
}

/// `P(K >= k)` for `K ~ BetaBinomial(n, a, b)`: `k` successes out of `n` when the success
/// probability itself is uncertain, Beta(a, b) (a baseline share estimated from `a + b`
/// earlier observations).
pub fn beta_binomial_upper_tail(k: u64, n: u64, a: f64, b: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || a <= 0.0 || b <= 0.0 {
        return P_FLOOR;
    }
    let ln_norm = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) - ln_gamma(a + b + n as f64);
    let ln_choose = |j: u64| ln_gamma(n as f64 + 1.0) - ln_gamma(j as f64 + 1.0) - ln_gamma((n - j) as f64 + 1.0);
    let ln_pmf = |j: u64| ln_choose(j) + ln_gamma(j as f64 + a) + ln_gamma((n - j) as f64 + b) + ln_norm;
    // Sum the smaller side in log space (terms decay away from the mode).
    let sum_exp = |range: &mut dyn Iterator<Item = u64>| {
        let logs: Vec<f64> = range.map(ln_pmf).collect();
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !max.is_finite() {
            return 0.0;
        }
        max.exp() * logs.iter().map(|l| (l - max).exp()).sum::<f64>()
    };
    let mean = n as f64 * a / (a + b);
    let p = if (k as f64) > mean { sum_exp(&mut (k..=n)) } else { 1.0 - sum_exp(&mut (0..k)) };
    p.clamp(P_FLOOR, 1.0)
}

/// `P(Z <= z)` of a standard normal.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2)
}

/// `-log10(p)`: the score reported with an alert (higher is stronger evidence).
pub fn score(p: f64) -> f64 {
    -p.clamp(P_FLOOR, 1.0).log10()
}

/// Over-dispersion `phi` of a count series (variance = mean + phi·mean²), by the method of
/// moments on successive differences (robust to slow trends and daily cycles), after
/// dropping the largest 1 % of squared differences: one earlier incident in the span (two
/// large differences, at its start and end) must not make the series look noisier than it
/// is, while bursts that recur several times a day must. 0 when Poisson-like or too short.
pub fn dispersion(values: &[f64]) -> f64 {
    let xs: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if xs.len() < 12 {
        return 0.0;
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    if mean <= 0.0 {
        return 0.0;
    }
    let mut sq: Vec<f64> = xs.windows(2).map(|w| (w[1] - w[0]).powi(2)).collect();
    let keep = sq.len() - sq.len() / 100;
    if keep < sq.len() {
        // Partition instead of sorting: the smallest `keep` first (linear time).
        sq.select_nth_unstable_by(keep, f64::total_cmp);
    }
    let var = sq[..keep].iter().sum::<f64>() / keep as f64 / 2.0;
    ((var - mean) / (mean * mean)).clamp(0.0, 2.0)
}

/// Benjamini–Hochberg: which of `p_values` are discoveries at false-discovery rate `q`.
pub fn benjamini_hochberg(p_values: &[f64], q: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut cut = 0;
    for (rank, &i) in order.iter().enumerate() {
        if p_values[i] <= q * (rank + 1) as f64 / m as f64 {
            cut = rank + 1;
        }
    }
    let mut out = vec![false; m];
    for &i in &order[..cut] {
        out[i] = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_tails_match_known_values() {
        // P(X >= 3 | 1) = 1 - e^-1 (1 + 1 + 1/2)
        let exact = 1.0 - (-1.0f64).exp() * 2.5;
        assert!((upper_tail(3, 1.0, 0.0) - exact).abs() < 1e-12);
        // P(X <= 1 | 2) = e^-2 (1 + 2)
        assert!((lower_tail(1, 2.0, 0.0) - 3.0 * (-2.0f64).exp()).abs() < 1e-12);
        assert_eq!(upper_tail(0, 5.0, 0.0), 1.0);
    }

    #[test]
    fn dispersion_widens_the_tail() {
        assert!(upper_tail(60, 25.0, 0.5) > 1e3 * upper_tail(60, 25.0, 0.0));
    }

    #[test]
    fn beta_binomial_agrees_with_the_binomial_for_a_certain_share() {
        // a + b large: the share is known to be 0.2; P(K >= 25 | n = 50, p = 0.2) ≈ 2.09e-6
        let p = beta_binomial_upper_tail(25, 50, 0.2 * 1e7, 0.8 * 1e7);
        assert!((p / 2.0948548555292417e-6 - 1.0).abs() < 1e-3, "{p}");
        // An uncertain share gives a wider tail.
        assert!(beta_binomial_upper_tail(25, 50, 2.0, 8.0) > 100.0 * p);
        // Lower side sums the complement.
        let q = beta_binomial_upper_tail(5, 50, 0.2 * 1e7, 0.8 * 1e7);
        assert!((0.9..1.0).contains(&q), "{q}");
    }

    #[test]
    fn dispersion_of_poisson_is_near_zero_and_of_bursty_is_not() {
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let pois = rand_distr::Poisson::new(20.0).expect("valid");
        let xs: Vec<f64> = (0..2000).map(|_| pois.sample(&mut rng)).collect();
        assert!(dispersion(&xs) < 0.01, "{}", dispersion(&xs));
        let gamma = rand_distr::Gamma::new(2.0, 10.0).expect("valid"); // mean 20, phi 0.5
        let ys: Vec<f64> = (0..4000)
            .map(|_| rand_distr::Poisson::new(gamma.sample(&mut rng)).expect("valid").sample(&mut rng))
            .collect();
        let phi = dispersion(&ys);
        assert!((0.3..0.7).contains(&phi), "{phi}");
    }

    #[test]
    fn benjamini_hochberg_controls_many_tests() {
        let ps = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216];
        let d = benjamini_hochberg(&ps, 0.05);
        assert_eq!(d, [true, true, false, false, false, false, false, false, false, false]);
        assert_eq!(benjamini_hochberg(&[], 0.05), Vec::<bool>::new());
    }
}
