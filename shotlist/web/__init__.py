"""The preview page of ``shotlist watch --serve``: one offline HTML file and its small server."""
