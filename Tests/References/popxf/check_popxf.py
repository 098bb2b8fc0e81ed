#!/usr/bin/env python3
"""Checks an efthf POPxf export (`efthf export WORKSPACE --popxf --scale GEV -o FILE`) with popxf-validator.

usage: check_popxf.py FILE [--schema POPXF_SCHEMA.json]

Runs popxf.validator.POPxfValidator on FILE: JSON-Schema validation against the POPxf schema, then
the validator's own checks (mode, scale, key lengths and ordering, value lengths, parameters).

popxf-validator 0.0.1 (PyPI, the only release) ships without its `schemas/popxf-1.0.json`, so its
schema map is empty and every file is rejected as "schema version not recognized". When that is so,
the official schema is registered from --schema or $POPXF_SCHEMA if given; otherwise the script runs
the validator's checks beyond the schema (POPxfValidator.validate_other) and, in their place, the
schema's structural rules as written in the POPxf specification (required fields, monomial-key
syntax, array lengths), and says so. Exit status 1 on failure; 0 with one summary line on success.
"""
import argparse
import ast
import json
import os
import re
import sys

import popxf.validator as pv
from popxf.validator import POPxfValidator, POPxfValidationError
from popxf.validator import schemas as pv_schemas

SCHEMA_ID = "https://json.schemastore.org/popxf-1.0.json"
SCHEMA_NAME = SCHEMA_ID.rsplit("/", 1)[-1]


def structural_checks(doc):
    """The POPxf 1.0 specification's structural rules that the validator's schema would check."""
    problems = []
    if set(doc) != {"$schema", "metadata", "data"}:
        problems.append(f"top-level keys {sorted(doc)}; expected $schema, metadata, data")
    if doc.get("$schema") != SCHEMA_ID:
        problems.append(f"$schema is {doc.get('$schema')!r}")
    md, data = doc.get("metadata", {}), doc.get("data", {})
    allowed_md = {"observable_names", "parameters", "basis", "scale", "polynomial_names", "observable_expressions",
                  "polynomial_degree", "reproducibility", "misc"}
    for key in ("observable_names", "parameters", "basis", "scale"):
        if key not in md:
            problems.append(f"metadata.{key} missing")
    for key in set(md) - allowed_md:
        problems.append(f"metadata.{key} is not a POPxf field")
    for key in ("observable_names", "parameters"):
        v = md.get(key, [])
        if not v or len(set(v)) != len(v) or not all(isinstance(s, str) and s for s in v):
            problems.append(f"metadata.{key} must be unique non-empty strings, at least one")
    basis = md.get("basis", {})
    if not isinstance(basis, dict) or not ({"wcxf", "custom"} & set(basis)) or set(basis) - {"wcxf", "custom"}:
        problems.append("metadata.basis needs wcxf or custom and nothing else")
    if "wcxf" in basis and not {"eft", "basis"} <= set(basis["wcxf"]):
        problems.append("metadata.basis.wcxf needs eft and basis")
    degree = md.get("polynomial_degree", 2)
    if degree not in (1, 2, 3, 4, 5):
        problems.append(f"metadata.polynomial_degree {degree!r} not in 1..5")
    if "misc" in md and (not isinstance(md["misc"], dict) or not md["misc"]):
        problems.append("metadata.misc must be a non-empty object")
    for step in md.get("reproducibility", []):
        if "tool" in step and "name" not in step["tool"]:
            problems.append("reproducibility tool without name")
    if set(data) - {"observable_central", "polynomial_central", "observable_uncertainties"} or not ({"observable_central", "polynomial_central"} & set(data)):
        problems.append(f"data keys {sorted(data)}")
    name = r"'[^']*'"
    key_re = re.compile(r"^\(\s*(" + name + r"\s*,\s*){" + str(degree - 1) + r"}" + name + r"(\s*,\s*'[IR]{" + str(degree) + r"}')?\s*,?\s*\)$")
    def check_poly(poly, where):
        if not isinstance(poly, dict) or not poly:
            problems.append(f"{where} must be a non-empty object")
            return
        for k, v in poly.items():
            if not key_re.match(k):
                problems.append(f"{where}: key {k!r} is not a degree-{degree} monomial key")
            if not isinstance(v, list) or not v or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                problems.append(f"{where}[{k}] must be a non-empty array of numbers")
    if "observable_central" in data:
        check_poly(data["observable_central"], "data.observable_central")
    for src, unc in data.get("observable_uncertainties", {}).items():
        if re.match(r"^\(.*\)$", src):
            problems.append(f"uncertainty source {src!r} looks like a monomial key")
        if isinstance(unc, dict):
            check_poly(unc, f"data.observable_uncertainties.{src}")
    return problems


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--schema", default=os.environ.get("POPXF_SCHEMA"))
    a = p.parse_args()
    doc = POPxfValidator.open_json(a.file)
    version = getattr(pv, "__version__", "?")
    if SCHEMA_NAME not in pv_schemas.schemas and a.schema:
        with open(a.schema) as f:
            schema = json.load(f)
        pv_schemas.schemas[SCHEMA_NAME] = schema
        pv_schemas.validators[SCHEMA_NAME] = pv_schemas.known_validators[schema["$schema"]]
    try:
        if SCHEMA_NAME in pv_schemas.schemas:
            v = POPxfValidator(doc)
            how = "schema and validator checks"
        else:
            problems = structural_checks(doc)
            if problems:
                print("FAIL structure:\n  " + "\n  ".join(problems))
                return 1
            # The validator without its (missing) schema step: mode, scale, expressions, polynomial data.
            v = POPxfValidator.__new__(POPxfValidator)
            v.json, v.metadata, v.data = doc, doc["metadata"], doc["data"]
            v.schema_version = SCHEMA_NAME
            v.polynomial_degree = v.metadata.get("polynomial_degree", 2)
            v.mode = "FOP" if "polynomial_names" in v.metadata else "SP"
            v.length_observable_names = len(v.metadata["observable_names"])
            v.length_polynomial_names = len(v.metadata.get("polynomial_names", []))
            v.parameters = v.metadata["parameters"]
            v.validate_other()
            how = ("validator checks beyond the schema + the specification's structural rules "
                   f"(popxf-validator {version} ships without {SCHEMA_NAME}; give --schema for full validation)")
    except POPxfValidationError as e:
        print(f"FAIL {a.file}: {e}")
        return 1
    # Every key parses as a tuple of parameters of the file.
    for k in doc["data"]["observable_central"]:
        t = ast.literal_eval(k)
        assert all(x == "" or x in v.parameters for x in t[: v.polynomial_degree]), k
    print(f"ok {a.file}: POPxf {v.mode} mode, degree {v.polynomial_degree}, {v.length_observable_names} observables, "
          f"{len(v.parameters)} parameters, {len(doc['data']['observable_central'])} monomials; {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
