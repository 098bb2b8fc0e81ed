// The efthf library: one import for EFT global fits.
@_exported import EFTJSON
@_exported import EFTModifiers
@_exported import EventDatabase
@_exported import HistFactory
@_exported import Inference
@_exported import Morphing
