-- The replaced system's name for a failure (COLD's FTPServerNetworkDownloadException and the like), kept
-- apart from the message and set only for pipelines that ask for it (error_codes in the pipeline file).
ALTER TABLE intake_loads ADD COLUMN error_code TEXT;
ALTER TABLE intake_steps ADD COLUMN error_code TEXT;
