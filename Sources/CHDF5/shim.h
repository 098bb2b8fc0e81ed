// HDF5 (Debian libhdf5-dev, serial build) for the EventDatabase module, the only one that imports it.
//
// HDF5's predefined type and property identifiers are macros that open the library and read a global
// (`H5T_NATIVE_DOUBLE` is `(H5OPEN H5T_NATIVE_DOUBLE_g)`), which Swift cannot import; the inline
// functions below expose them.
#ifndef EFTHF_CHDF5_SHIM_H
#define EFTHF_CHDF5_SHIM_H

#include <hdf5.h>

static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t chdf5_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t chdf5_c_s1(void) { return H5T_C_S1; }
static inline hid_t chdf5_plist_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_plist_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t chdf5_plist_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t chdf5_plist_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t chdf5_plist_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t chdf5_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_error_default(void) { return H5E_DEFAULT; }
static inline hid_t chdf5_all(void) { return H5S_ALL; }
static inline unsigned chdf5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline size_t chdf5_variable(void) { return H5T_VARIABLE; }

#endif
