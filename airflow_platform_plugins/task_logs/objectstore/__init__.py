"""Task logs in an object store (S3, GCS): immutable chunks named by byte range, stitched on read."""
