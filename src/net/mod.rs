//! Network: the gRPC agent service and the controller's fleet client; SSH deployment.
//! Proto types stay inside this module.
