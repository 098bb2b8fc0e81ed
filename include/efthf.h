/*
 * efthf.h — the C interface of efthf: HistFactory (pyhf 0.7.6) likelihoods with EFT extensions.
 *
 * Link with libEFTHFC (swift build --product EFTHFC; .build/<config>/libEFTHFC.so).
 *
 * Conventions
 * - Handles (efthf_workspace, efthf_model, efthf_data) are opaque, immutable after creation and
 *   freed with their *_free function (NULL is ignored). One model may be evaluated from several
 *   threads at once.
 * - Every function that can fail returns EFTHF_OK or an error code; when `error` is not NULL it
 *   then receives a message (naming the file, JSON path and value where there is one) that the
 *   caller frees with efthf_string_free. On success *error is set to NULL.
 * - Strings returned through `char **out` are JSON (UTF-8) and are freed with efthf_string_free.
 * - Parameter vectors are in the model's order (pyhf's par_names, see efthf_model_config); data
 *   are the main bins in channel order, then the auxiliary data (pyhf's Workspace.data(model)).
 * - Buffers are sized by the caller; a size that does not match is EFTHF_ERROR_INVALID_ARGUMENT.
 */
#ifndef EFTHF_H
#define EFTHF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    EFTHF_OK = 0,
    /* A NULL pointer, a buffer of the wrong size, an unknown task name. */
    EFTHF_ERROR_INVALID_ARGUMENT = 1,
    /* The workspace, a patch, options or an event database is invalid or cannot be read. */
    EFTHF_ERROR_INVALID_INPUT = 2,
    /* A fit, hypotest or limit could not be computed. */
    EFTHF_ERROR_INFERENCE = 3,
    EFTHF_ERROR_INTERNAL = 4
};

typedef struct efthf_workspace efthf_workspace;
typedef struct efthf_model efthf_model;
typedef struct efthf_data efthf_data;

/* The library's version ("0.1.0"); static storage, not to be freed. */
const char *efthf_version(void);
/* Frees a string returned by the library. */
void efthf_string_free(char *text);

/* A workspace from JSON text (pyhf 1.0.0 or efthf's extension); base_directory resolves relative
 * event-database paths (NULL: the current directory). */
int efthf_workspace_from_json(const char *json, const char *base_directory, efthf_workspace **out, char **error);
/* A workspace from a file; relative event-database paths resolve against its directory. */
int efthf_workspace_from_file(const char *path, efthf_workspace **out, char **error);
void efthf_workspace_free(efthf_workspace *workspace);
/* The workspace as compact JSON. */
int efthf_workspace_json(const efthf_workspace *workspace, char **out, char **error);
/* The model of one measurement. options: NULL, or JSON as pyhf's Workspace.model keywords:
 * {"measurement_name": "...", "patches": [[JSON Patch ops] or {"patch": [...]}, ...],
 *  "poi_name": "...", "modifier_settings": {"normsys": {"interpcode": "code4"},
 *                                           "histosys": {"interpcode": "code4p"}}} */
int efthf_workspace_model(const efthf_workspace *workspace, const char *options, efthf_model **out, char **error);
/* The workspace with an RFC 6902 JSON Patch (JSON text of the operations) applied. */
int efthf_workspace_patched(const efthf_workspace *workspace, const char *patch, efthf_workspace **out, char **error);
/* The workspace with one patch of a pyhf PatchSet (JSON text) applied, after verifying the patch
 * set's digests against it (pyhf's PatchSet.apply); name NULL takes the only patch. */
int efthf_workspace_apply_patchset(const efthf_workspace *workspace, const char *patch_set, const char *name,
                                   efthf_workspace **out, char **error);

void efthf_model_free(efthf_model *model);
/* The model's configuration as JSON: par_names, par_order, parameter_sets (slice, inits, bounds,
 * fixed, constraint, auxdata), suggested_init/bounds/fixed, poi_name, poi_index, channels,
 * channel_nbins, samples, auxdata, wilson_coefficients, interpolation codes. */
int efthf_model_config(const efthf_model *model, char **out, char **error);
/* Sizes (0 for a NULL model). */
ptrdiff_t efthf_model_npars(const efthf_model *model);
ptrdiff_t efthf_model_nmain(const efthf_model *model);
ptrdiff_t efthf_model_naux(const efthf_model *model);
/* The workspace's observed data for the model: nmain values, + naux with include_auxdata. */
int efthf_model_observed_data(const efthf_model *model, int include_auxdata, double *out, ptrdiff_t capacity, char **error);
/* The expected data at pars (npars values): nmain values, + naux with include_auxdata. */
int efthf_model_expected_data(const efthf_model *model, const double *pars, ptrdiff_t npars, int include_auxdata,
                              double *out, ptrdiff_t capacity, char **error);

/* Data for the likelihood: nmain + naux values, or nmain with the nominal auxiliary data. */
int efthf_data_create(const efthf_model *model, const double *values, ptrdiff_t count, efthf_data **out, char **error);
void efthf_data_free(efthf_data *data);

/* ln L(pars | data), pyhf's Model.logpdf; with a non-NULL gradient (npars doubles) also its exact
 * gradient. A point outside the model's domain gives NaN or -inf, as in pyhf; an event database whose
 * streamed columns can no longer be read is EFTHF_ERROR_INVALID_INPUT naming the file and dataset. */
int efthf_model_logpdf(const efthf_model *model, const double *pars, ptrdiff_t npars, const efthf_data *data,
                       double *value, double *gradient, char **error);

/* Runs a task on the model with data (NULL: the observed data) and returns its report as JSON.
 * task: "fit", "hypotest", "limit", "significance", "toys", "scan", "ranking", "yields", "inspect", "export",
 * "patchset", "hs3_export", "combine_scaling_export"; options: the task's JSON (NULL or "" for its defaults), e.g. for "fit"
 * {"ops": ["cHW"], "fix": {"lumi": 1}, "uncertainties": true,
 *  "overrides": {"inits": [...], "bounds": [[lo, hi], ...], "fixed": [...]}}.
 * Specs/bindings.md lists every task's options and report. */
int efthf_model_run(const efthf_model *model, const efthf_data *data, const char *task, const char *options,
                    char **out, char **error);

/* Runs a task that changes the workspace without building its model and returns the new
 * workspace's JSON: "combine_scaling_import" (CMS Combine scaling data) or "eft2obs_import"
 * (an EFT2Obs STXS table), as morphing modifiers (Specs/combine.md). */
int efthf_workspace_run(const efthf_workspace *workspace, const char *task, const char *options,
                        char **out, char **error);

/* Runs a task that needs no model and returns its report as JSON: "import_lhe" or
 * "import_madminer" (event databases from generator output), "hs3_import" (an HS3 file read as a
 * workspace; Specs/bindings.md). */
int efthf_run(const char *task, const char *options, char **out, char **error);

#ifdef __cplusplus
}
#endif

#endif /* EFTHF_H */
