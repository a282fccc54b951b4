//! What the nicctl tests share: network namespaces with Linux as the peer, and `nicctl up`.
#![allow(dead_code)]

pub mod netns;
pub mod up;
