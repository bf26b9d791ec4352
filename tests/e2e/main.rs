//! End-to-end tests of cachectl: real directory trees, real qcow2 images, the real command.

mod seeds;
mod support;
