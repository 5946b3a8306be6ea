// The dev sidecar's command line; see Runner/ for `run`.
return 0;
