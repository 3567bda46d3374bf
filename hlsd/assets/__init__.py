"""Uploaded assets: uploads, transcoding jobs and the ABR ladder they are packaged into."""
