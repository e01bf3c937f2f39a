"""One sub-package per source; each turns a source API into domain rows."""
