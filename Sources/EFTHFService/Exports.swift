// The HTTP service around the EFTHF library: uploads of workspaces with their event databases,
// export, patch-set and fit jobs in a bounded queue, results served once complete.
@_exported import EFTHF
