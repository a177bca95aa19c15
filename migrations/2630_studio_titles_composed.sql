-- Titles and descriptions are stored composed (NFC) from now on (core.text.tidy), so a search typed
-- either way finds them: compose those stored before, which a search in NFC could not find.
-- normalize() needs a UTF-8 database (every Hypha database is; others keep their rows as they are).
DO $$
BEGIN
    IF current_setting('server_encoding') = 'UTF8' THEN
        UPDATE videos SET title = normalize(title, NFC) WHERE title IS NOT NFC NORMALIZED;
        UPDATE videos SET description = normalize(description, NFC) WHERE description IS NOT NFC NORMALIZED;
    END IF;
END
$$;
