// The shims are all inline in the header.
