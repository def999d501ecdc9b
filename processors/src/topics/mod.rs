//! Topics: assigning feedback to the catalogue, and proposing new topics from clusters of
//! unassigned feedback.

pub mod catalogue;
pub mod command;
pub mod reassign;
pub mod suggest;

pub use catalogue::{CatalogueError, TopicCatalogue};
pub use rtcx_topics::cosine;
pub use rtcx_topics::matcher::Matcher as TopicMatcher;
