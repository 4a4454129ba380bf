//! Common European Framework of Reference levels, A1 (beginner) to C2.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CefrLevel {
    A1,
    A2,
    B1,
    B2,
    C1,
    C2,
}

impl CefrLevel {
    pub const ALL: [CefrLevel; 6] = [Self::A1, Self::A2, Self::B1, Self::B2, Self::C1, Self::C2];

    /// The level of a new session when neither the request nor the profile names one.
    pub const DEFAULT: CefrLevel = CefrLevel::B1;

    pub fn as_str(self) -> &'static str {
        match self {
            Self::A1 => "A1",
            Self::A2 => "A2",
            Self::B1 => "B1",
            Self::B2 => "B2",
            Self::C1 => "C1",
            Self::C2 => "C2",
        }
    }

    /// How the tutor should speak to a learner at this level (goes in the prompt).
    pub fn guidance(self) -> &'static str {
        match self {
            Self::A1 => {
                "a beginner: use very short sentences, the most common words and the present \
                 tense; speak slowly and simply"
            }
            Self::A2 => {
                "elementary: use short, simple sentences and everyday vocabulary; avoid idioms"
            }
            Self::B1 => {
                "intermediate: use clear, natural sentences on familiar topics; explain any \
                 less common word you use"
            }
            Self::B2 => {
                "upper intermediate: speak naturally, with some idioms and complex sentences"
            }
            Self::C1 => {
                "advanced: speak fluently and naturally, with idioms, nuance and a wide vocabulary"
            }
            Self::C2 => {
                "proficient: speak as to a native speaker, with full range, subtlety and register"
            }
        }
    }
}

impl fmt::Display for CefrLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown CEFR level {0:?}: expected one of A1, A2, B1, B2, C1, C2")]
pub struct UnknownLevel(pub String);

impl FromStr for CefrLevel {
    type Err = UnknownLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownLevel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for level in CefrLevel::ALL {
            assert_eq!(level.as_str().parse::<CefrLevel>(), Ok(level));
            assert_eq!(
                level.as_str().to_lowercase().parse::<CefrLevel>(),
                Ok(level)
            );
        }
        assert!("D1".parse::<CefrLevel>().is_err());
        assert!("".parse::<CefrLevel>().is_err());
    }

    #[test]
    fn levels_are_ordered() {
        assert!(CefrLevel::A1 < CefrLevel::C2);
        assert_eq!(CefrLevel::DEFAULT, CefrLevel::B1);
    }
}
