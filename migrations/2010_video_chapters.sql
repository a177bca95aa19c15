-- Chapters a creator set for a video (issue 18, item 4): a start in whole seconds and a title each, in
-- time order (`position` 0, 1, …). A video without rows takes its chapters from its description.
CREATE TABLE video_chapters (
    video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    position integer NOT NULL CHECK (position >= 0),
    at_seconds integer NOT NULL CHECK (at_seconds >= 0),
    title varchar(100) NOT NULL CHECK (length(title) > 0),
    PRIMARY KEY (video_id, position),
    CONSTRAINT video_chapters_distinct_times UNIQUE (video_id, at_seconds)
);
