// ACLs page: a resource-type picker offers the names of its type in the name field beside it
// (data-acl-name: that field's id); the cluster has one name, so its field is filled and locked.
(function () {
  var CLUSTER_NAME = "kafka-cluster";
  document.addEventListener("change", function (e) {
    var select = e.target.closest("select[data-acl-name]");
    if (!select) return;
    var field = document.getElementById(select.dataset.aclName);
    if (!field) return;
    field.setAttribute("list", "acl-names-" + select.value);
    if (select.value === "CLUSTER") {
      field.value = CLUSTER_NAME;
      field.readOnly = true;
    } else if (field.readOnly) {
      field.readOnly = false;
      field.value = "";
    }
  });
})();
