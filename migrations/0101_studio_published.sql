-- The catalog lists published videos newest first, a keyset page at a time.
CREATE INDEX videos_published ON videos (created_at DESC, id DESC) WHERE state = 'published';
CREATE INDEX videos_published_owner ON videos (owner_id, created_at DESC, id DESC) WHERE state = 'published';
