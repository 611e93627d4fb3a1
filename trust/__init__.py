"""The participants' keys and signatures: a local root certifies each participant (role and
code), every filing is signed by its filer, and the relay checks who signed what, when."""
