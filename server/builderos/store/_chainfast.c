/*
 * The fast check of the audit chain (builderos.store.audit, "The fast check") in C.
 *
 * Why: per record the check is a handful of byte operations around one sha256. In Python each of
 * them is a bytecode round trip that costs about as much as the hash itself, so `audit verify` ran
 * at a third of sha256's speed. Here the loop, the search for the hash member, the cut and the
 * comparison are C, and the hash is OpenSSL's sha256 (the library hashlib uses) called directly.
 *
 * It is an accelerator only: it verifies a prefix of the rows with exactly the fast check and stops
 * at the first row that does not pass it (or that is not a (int, bytes) pair), returning how many
 * passed. The Python code then handles that row and the rest as it always did (the full check,
 * which names the problem). So every verdict, message and edge case stays the Python one; the
 * package works without this module (it is built only where a C compiler is available).
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init/Update/Final: still there in 3.x, and the fastest */
#include <Python.h>
#include <openssl/sha.h>
#include <string.h>

#define MEMBER ",\"hash\":\""
#define MEMBER_LEN 9
#define HEX_LEN 64
#define CUT (MEMBER_LEN + HEX_LEN + 1) /* the member, the 64 hex digits and the closing quote */

/* The offset of the last ,"hash":" in buf[0:n], or -1. It sits near the end (only the outcome,
 * prev_hash, seq and ts members follow it), so scanning backwards finds it after ~100 bytes. */
static Py_ssize_t
last_member(const char *buf, Py_ssize_t n)
{
    for (Py_ssize_t i = n - MEMBER_LEN; i >= 0; i--) {
        if (buf[i] == ',' && memcmp(buf + i, MEMBER, MEMBER_LEN) == 0)
            return i;
    }
    return -1;
}

/* The 64 lowercase hex digits of a sha256 digest. */
static void
to_hex(const unsigned char *digest, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 15];
    }
}

/* 1: the row passes the fast check from `prev` (its hex hash is written to `out`); 0: it does not. */
static int
check_row(PyObject *row, long long expect, const char *prev, char *out)
{
    if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) != 2)
        return 0;
    PyObject *seq = PyTuple_GET_ITEM(row, 0);
    PyObject *rec = PyTuple_GET_ITEM(row, 1);
    if (!PyLong_CheckExact(seq) || !PyBytes_CheckExact(rec))
        return 0;
    int overflow = 0;
    long long number = PyLong_AsLongLongAndOverflow(seq, &overflow);
    if (overflow || number != expect)
        return 0;
    const char *buf = PyBytes_AS_STRING(rec);
    Py_ssize_t n = PyBytes_GET_SIZE(rec);
    Py_ssize_t at = last_member(buf, n);
    if (at < 0 || at + CUT > n || buf[at + CUT - 1] != '"')
        return 0;
    /* sha256 of prev_hash + the record without its hash member: what its writer hashed */
    SHA256_CTX ctx;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, prev, HEX_LEN);
    SHA256_Update(&ctx, buf, (size_t)at);
    SHA256_Update(&ctx, buf + at + CUT, (size_t)(n - at - CUT));
    SHA256_Final(digest, &ctx);
    to_hex(digest, out);
    return memcmp(out, buf + at + MEMBER_LEN, HEX_LEN) == 0;
}

PyDoc_STRVAR(verify_rows_doc,
"verify_rows(rows, prev, first_seq, want) -> (passed, prev, want_seen)\n\n"
"Apply the fast check to the (seq, record bytes) pairs of the list `rows`, chaining from `prev`\n"
"(64 lowercase hex digits, bytes) with the first seq `first_seq`, and stop at the first row that\n"
"does not pass. `want` (64 hex digits or None) is a head hash to look for. Returns how many rows\n"
"passed, the hash of the last one that did (`prev` if none) and whether `want` was among them.");

static PyObject *
verify_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "verify_rows takes 4 arguments");
        return NULL;
    }
    PyObject *rows = args[0], *prev_obj = args[1], *want_obj = args[3];
    if (!PyList_Check(rows)) {
        PyErr_SetString(PyExc_TypeError, "rows must be a list");
        return NULL;
    }
    if (!PyBytes_Check(prev_obj) || PyBytes_GET_SIZE(prev_obj) != HEX_LEN) {
        PyErr_SetString(PyExc_ValueError, "prev must be 64 bytes");
        return NULL;
    }
    if (want_obj != Py_None && (!PyBytes_Check(want_obj) || PyBytes_GET_SIZE(want_obj) != HEX_LEN)) {
        PyErr_SetString(PyExc_ValueError, "want must be 64 bytes or None");
        return NULL;
    }
    long long expect = PyLong_AsLongLong(args[2]);
    if (expect == -1 && PyErr_Occurred())
        return NULL;
    char prev[HEX_LEN], next[HEX_LEN];
    memcpy(prev, PyBytes_AS_STRING(prev_obj), HEX_LEN);
    const char *want = want_obj == Py_None ? NULL : PyBytes_AS_STRING(want_obj);
    int want_seen = 0;
    Py_ssize_t passed = 0;
    /* No Python code runs in the loop (the GIL is held throughout): the list cannot change under it. */
    for (; passed < PyList_GET_SIZE(rows); passed++) {
        if (!check_row(PyList_GET_ITEM(rows, passed), expect, prev, next))
            break;
        memcpy(prev, next, HEX_LEN);
        if (want != NULL && memcmp(prev, want, HEX_LEN) == 0) {
            want_seen = 1;
            want = NULL;
        }
        expect++;
    }
    return Py_BuildValue("(ny#O)", passed, prev, (Py_ssize_t)HEX_LEN, want_seen ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"verify_rows", (PyCFunction)(void (*)(void))verify_rows, METH_FASTCALL, verify_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "builderos.store._chainfast",
    "The audit chain's fast check in C (an accelerator; builderos.store.audit works without it).",
    0,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__chainfast(void)
{
    return PyModule_Create(&module_def);
}
