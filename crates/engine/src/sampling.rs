//! A request's sampling parameters and their ranges.

use crate::error::EngineError;

/// Sampling parameters of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 = greedy; higher = flatter.
    pub temperature: f32,
    /// Keep the smallest set of tokens whose probability reaches this.
    pub top_p: f32,
    /// Keep only the `k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Divide positive logits (multiply negative ones) of recent tokens.
    pub repetition_penalty: f32,
    /// Seed for reproducible sampling; random when absent.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Checks ranges (OpenAI's where it has one).
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |param, reason: &str| {
            Err(EngineError::InvalidParameter {
                param,
                reason: reason.into(),
            })
        };
        if !(0.0..=2.0).contains(&self.temperature) {
            return bad("temperature", "must be between 0 and 2");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", "must be greater than 0 and at most 1");
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty <= 10.0) {
            return bad("repetition_penalty", "must be greater than 0 and at most 10");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            ..SamplingParams::default()
        }
    }

    #[test]
    fn out_of_range_parameters_are_named() {
        let err = SamplingParams {
            top_p: 0.0,
            ..SamplingParams::default()
        }
        .validate()
        .unwrap_err();
        assert!(matches!(
            err,
            EngineError::InvalidParameter { param: "top_p", .. }
        ));
        let err = params(3.0).validate().unwrap_err();
        assert!(matches!(
            err,
            EngineError::InvalidParameter {
                param: "temperature",
                ..
            }
        ));
    }
}
