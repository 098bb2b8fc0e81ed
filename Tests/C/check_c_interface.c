/* A check of efthf's C interface against its header and library (run by scripts/test-bindings.sh):
 *   check_c_interface WORKSPACE PATCHSET PATCH LOGPDF_REFERENCE
 * builds the patched model, compares ln L at the suggested inits with pyhf's value (1e-9
 * relative), checks the gradient against central differences, evaluates from 4 threads at once,
 * runs a fit and an HS3 export, and checks that bad calls (a workspace task's missing file, an
 * unknown task) return the documented error codes with a message. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "efthf.h"

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    char *text = malloc(n + 1);
    if (fread(text, 1, n, f) != (size_t)n) { perror(path); exit(2); }
    text[n] = 0; fclose(f);
    return text;
}

struct job { const efthf_model *model; const efthf_data *data; const double *pars; ptrdiff_t n; double value; int status; };
static void *evaluate(void *arg) {
    struct job *j = arg; char *error = NULL;
    double *grad = malloc(j->n * sizeof *grad);
    for (int k = 0; k < 200 && j->status == 0; k++) j->status = efthf_model_logpdf(j->model, j->pars, j->n, j->data, &j->value, grad, &error);
    if (error) efthf_string_free(error);
    free(grad);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s WORKSPACE PATCHSET PATCH LOGPDF\n", argv[0]); return 2; }
    const double reference = strtod(argv[4], NULL);
    char *error = NULL, *json = NULL;
    efthf_workspace *ws = NULL, *patched = NULL; efthf_model *model = NULL; efthf_data *data = NULL;

    CHECK(strcmp(efthf_version(), "0.1.0") == 0, "version %s", efthf_version());
    CHECK(efthf_workspace_from_file(argv[1], &ws, &error) == EFTHF_OK, "open: %s", error);
    char *patchset = read_file(argv[2]);
    CHECK(efthf_workspace_apply_patchset(ws, patchset, argv[3], &patched, &error) == EFTHF_OK, "patch: %s", error);
    CHECK(efthf_workspace_model(patched, NULL, &model, &error) == EFTHF_OK, "model: %s", error);
    if (failures) return 1;

    ptrdiff_t n = efthf_model_npars(model), nd = efthf_model_nmain(model) + efthf_model_naux(model);
    CHECK(efthf_model_config(model, &json, &error) == EFTHF_OK && strstr(json, "\"par_names\"") && strstr(json, "\"suggested_init\""), "config");
    efthf_string_free(json);
    double *obs = malloc(nd * sizeof *obs), *grad = malloc(n * sizeof *grad), *pars = malloc(n * sizeof *pars);
    CHECK(efthf_model_observed_data(model, 1, obs, nd, &error) == EFTHF_OK, "data: %s", error);
    CHECK(efthf_data_create(model, obs, nd, &data, &error) == EFTHF_OK, "data handle: %s", error);

    /* the suggested inits, from the configuration's "suggested_init" array */
    CHECK(efthf_model_config(model, &json, &error) == EFTHF_OK, "config");
    char *p = strstr(json, "\"suggested_init\":[") + strlen("\"suggested_init\":[");
    for (ptrdiff_t i = 0; i < n; i++) { pars[i] = strtod(p, &p); p++; }
    efthf_string_free(json);

    double value = 0, plain = 0;
    CHECK(efthf_model_logpdf(model, pars, n, data, &value, grad, &error) == EFTHF_OK, "logpdf: %s", error);
    CHECK(efthf_model_logpdf(model, pars, n, data, &plain, NULL, &error) == EFTHF_OK && plain == value, "logpdf without gradient");
    CHECK(fabs(value / reference - 1) < 1e-9, "ln L = %.17g, pyhf %.17g", value, reference);
    for (ptrdiff_t i = 0; i < n; i++) {
        double h = 1e-6 * fmax(1, fabs(pars[i])), up, down, saved = pars[i];
        pars[i] = saved + h; efthf_model_logpdf(model, pars, n, data, &up, NULL, &error);
        pars[i] = saved - h; efthf_model_logpdf(model, pars, n, data, &down, NULL, &error);
        pars[i] = saved;
        double numeric = (up - down) / (2 * h);
        CHECK(fabs(grad[i] - numeric) <= 1e-5 * fabs(numeric) + 1e-4, "gradient %td: %.10g vs %.10g", i, grad[i], numeric);
    }

    pthread_t threads[4]; struct job jobs[4];
    for (int t = 0; t < 4; t++) { jobs[t] = (struct job){model, data, pars, n, 0, 0}; pthread_create(&threads[t], NULL, evaluate, &jobs[t]); }
    for (int t = 0; t < 4; t++) { pthread_join(threads[t], NULL); CHECK(jobs[t].status == 0 && jobs[t].value == value, "thread %d", t); }

    CHECK(efthf_model_run(model, data, "fit", "{\"uncertainties\": true}", &json, &error) == EFTHF_OK && strstr(json, "\"converged\":true"), "fit: %s", error ? error : json);
    efthf_string_free(json);

    /* errors: documented codes and a message */
    CHECK(efthf_model_logpdf(model, pars, n - 1, data, &value, NULL, &error) == EFTHF_ERROR_INVALID_ARGUMENT && strstr(error, "parameters"), "size");
    efthf_string_free(error);
    CHECK(efthf_model_logpdf(NULL, pars, n, data, &value, NULL, &error) == EFTHF_ERROR_INVALID_ARGUMENT && strstr(error, "NULL"), "null model");
    efthf_string_free(error);
    CHECK(efthf_model_run(model, NULL, "fit", "{\"fix\": {\"no_such_parameter\": 1}}", &json, &error) == EFTHF_ERROR_INVALID_INPUT && strstr(error, "no_such_parameter"), "fix");
    efthf_string_free(error);
    CHECK(efthf_workspace_from_json("{\"channels\": 3, \"observations\": [], \"measurements\": [], \"version\": \"1.0.0\"}", NULL, &patched, &error) == EFTHF_ERROR_INVALID_INPUT && strstr(error, "/channels"), "schema: %s", error);
    efthf_string_free(error);
    CHECK(efthf_workspace_from_file("/nonexistent/ws.json", &patched, &error) == EFTHF_ERROR_INVALID_INPUT && strstr(error, "/nonexistent/ws.json"), "file");
    efthf_string_free(error);
    CHECK(efthf_workspace_run(ws, "combine_scaling_import", "{\"scaling\": \"/nonexistent/scaling.json\"}", &json, &error) == EFTHF_ERROR_INVALID_INPUT
          && strstr(error, "/nonexistent/scaling.json"), "workspace task: %s", error);
    efthf_string_free(error);
    CHECK(efthf_workspace_run(ws, "fit", NULL, &json, &error) == EFTHF_ERROR_INVALID_INPUT && strstr(error, "eft2obs_import"), "unknown workspace task: %s", error);
    efthf_string_free(error);
    /* the HS3 export (ROOT reads it: python/tests/test_interop.py) */
    CHECK(efthf_model_run(model, NULL, "hs3_export", NULL, &json, &error) == EFTHF_OK && strstr(json, "\"histfactory_dist\""), "hs3_export: %s", error);
    efthf_string_free(json);

    efthf_data_free(data); efthf_model_free(model); efthf_workspace_free(ws); free(patchset); free(obs); free(grad); free(pars);
    if (failures) { fprintf(stderr, "%d check(s) failed\n", failures); return 1; }
    printf("C interface: %td parameters, ln L = %.12f (pyhf %.12f), gradient, 4 threads, fit and errors OK\n", n, value, reference);
    return 0;
}
