-- "Does any video still play this master?" (VideoRepository.masters_in_use), asked after every
-- publication of a rendition before the master it replaced is removed from the content store: an
-- index lookup instead of a scan of every video.
CREATE INDEX videos_playlist ON videos (playlist) WHERE playlist IS NOT NULL;
