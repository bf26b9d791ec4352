//! End-to-end tests of cachectl: real directory trees, real qcow2 images, the real command.

mod attacks;
mod chains;
mod cli;
mod conformance;
mod contrib;
mod escapes;
mod hostile;
mod libvirt;
mod metrics;
mod nova_conf;
mod package;
mod parallel;
mod scenarios;
mod seeds;
mod sources;
mod support;
