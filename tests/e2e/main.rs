//! End-to-end tests of cachectl: real directory trees, real qcow2 images, the real command.

mod cli;
mod parallel;
mod scenarios;
mod seeds;
mod support;
