/* Evaluates a published workspace through efthf's C interface: ln L and its gradient at the
 * suggested inits of the first measurement's model.
 *   cc evaluate.c -I include -L .build/release -lEFTHFC -Wl,-rpath,.build/release -o evaluate
 *   ./evaluate WORKSPACE.json */
#include <stdio.h>
#include <stdlib.h>
#include "efthf.h"

static int fail(char *error) { fprintf(stderr, "efthf: %s\n", error); efthf_string_free(error); return 1; }

int main(int argc, char **argv) {
    efthf_workspace *ws; efthf_model *model; efthf_data *data; char *error, *fit; double logpdf;
    if (argc != 2) { fprintf(stderr, "usage: %s WORKSPACE.json\n", argv[0]); return 2; }
    if (efthf_workspace_from_file(argv[1], &ws, &error) || efthf_workspace_model(ws, NULL, &model, &error)) return fail(error);
    ptrdiff_t n = efthf_model_npars(model), nd = efthf_model_nmain(model) + efthf_model_naux(model);
    double *pars = malloc(n * sizeof *pars), *grad = malloc(n * sizeof *grad), *obs = malloc(nd * sizeof *obs);
    if (efthf_model_observed_data(model, 1, obs, nd, &error) || efthf_data_create(model, obs, nd, &data, &error)) return fail(error);
    if (efthf_model_run(model, data, "fit", "{\"uncertainties\": false}", &fit, &error)) return fail(error);
    printf("best fit: %s\n", fit);
    for (ptrdiff_t i = 0; i < n; i++) pars[i] = 1.0;
    if (efthf_model_logpdf(model, pars, n, data, &logpdf, grad, &error)) return fail(error);
    printf("%td parameters, %td data; ln L at all parameters = 1: %.17g, d lnL/d p0 = %.17g\n", n, nd, logpdf, grad[0]);
    efthf_string_free(fit); efthf_data_free(data); efthf_model_free(model); efthf_workspace_free(ws); free(pars); free(grad); free(obs);
    return 0;
}
